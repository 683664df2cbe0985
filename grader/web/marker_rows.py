"""The coursework overview's rows as one marker may see them: pseudonyms, in pseudonym order, for a
GTA under anonymous marking (``anonymity.py``), and only the students allocated to them when they
ask for "my allocation". The overview, the question view and "next unmarked" read them here."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from grader.http.deps import CourseworkRef
from grader.marking.allocations import allocations
from grader.marking.overview import OverviewRow, coursework_overview
from grader.web.anonymity import identities, masked_rows
from grader.web.deps import WebUser


def staff_rows(
    request: Request, session: Session, user: WebUser, ref: CourseworkRef, mine: bool = False
) -> list[OverviewRow]:
    rows = coursework_overview(session=session, rubric=ref.files.rubric, coursework=ref.row)
    rows = masked_rows(identities(session, user, ref), rows)
    if mine:
        own = {
            sid for sid, marker in allocations(session=session, coursework_id=ref.row.id).items() if marker == user.id
        }
        rows = [r for r in rows if r.student_id in own]
    return rows
