"""Anonymous marking on the markers' pages: the dashboard's side of ``grader/marking/anonymity.py``.
With the coursework's switch on, a GTA sees each student's stored pseudonym ("Candidate 041307")
in place of their name and external id, rows in pseudonym order, and neutral file names; lecturers
always see names, and exports are unaffected."""

from __future__ import annotations

import dataclasses

from sqlalchemy.orm import Session

from grader.http.deps import CourseworkRef
from grader.marking.allocations import is_anonymous
from grader.marking.anonymity import IdentityView, identity_view, reader_sees_pseudonyms, rubric_file_names
from grader.marking.overview import OverviewRow
from grader.web.deps import WebUser


def hides_names(session: Session, user: WebUser, coursework_id: int) -> bool:
    return reader_sees_pseudonyms(user.role, is_anonymous(session=session, coursework_id=coursework_id))


def identities(session: Session, user: WebUser, ref: CourseworkRef) -> IdentityView:
    """How the signed-in marker may name the coursework's students."""
    return identity_view(
        session=session, coursework_id=ref.row.id, reader_role=user.role, safe_names=rubric_file_names(ref.files.rubric)
    )


def masked_rows(view: IdentityView, rows: list[OverviewRow]) -> list[OverviewRow]:
    """The rows as this marker may see them: for a GTA under anonymity, in pseudonym order with each
    student's name and external id replaced by their pseudonym (so search and sort work on
    pseudonyms too, and reveal nothing); unchanged otherwise."""
    if not view.hides:
        return rows
    rows = view.ordered(rows, lambda r: r.student_id)
    return [dataclasses.replace(r, name=view.label(r.student_id), external_id=view.label(r.student_id)) for r in rows]
