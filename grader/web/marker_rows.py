"""The coursework overview's rows as one marker may see them: pseudonyms, in pseudonym order, for a
GTA under anonymous marking (``anonymity.py``), and only the students allocated to them when they
ask for "my allocation". The overview, its poll, the question view and "next unmarked" read them
here, from this process's rows kept current by the change log (``grader.marking.overview_rows``)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from grader.http.deps import CourseworkRef
from grader.marking.allocations import allocations
from grader.marking.overview import OverviewRow
from grader.marking.overview_changes import Cursor
from grader.marking.overview_rows import OVERVIEW_ROWS
from grader.web.anonymity import identities, masked_rows
from grader.web.deps import WebUser


@dataclass(frozen=True)
class MarkerRows:
    rows: list[OverviewRow]
    cursor: Cursor | None  # what the rows stand for (``overview_changes.changes_since`` from it)
    hides: bool  # pseudonyms in place of names


def marker_rows(
    request: Request, session: Session, user: WebUser, ref: CourseworkRef, mine: bool = False
) -> MarkerRows:
    current = OVERVIEW_ROWS.current(session=session, rubric=ref.files.rubric, coursework=ref.row)
    view = identities(session, user, ref)
    rows = masked_rows(view, current.rows)
    if mine:
        own = {
            sid for sid, marker in allocations(session=session, coursework_id=ref.row.id).items() if marker == user.id
        }
        rows = [r for r in rows if r.student_id in own]
    return MarkerRows(rows, current.cursor, view.hides)


def staff_rows(
    request: Request, session: Session, user: WebUser, ref: CourseworkRef, mine: bool = False
) -> list[OverviewRow]:
    return marker_rows(request, session, user, ref, mine).rows
