"""Anonymous marking on the markers' pages: with the coursework's switch on, a GTA sees a stable
pseudonym ("Candidate 041307", ``grader/marking/pseudonyms.py``) in place of every student's name
and external id; lecturers always see names, and exports are unaffected."""

from __future__ import annotations

import dataclasses

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.marking.allocations import is_anonymous
from grader.marking.pseudonyms import pseudonyms
from grader.roster.models import Student
from grader.users.models import Role
from grader.web.deps import WebUser
from grader.web.overview import OverviewRow


def hides_names(session: Session, user: WebUser, coursework_id: int) -> bool:
    return user.role is Role.gta and is_anonymous(session=session, coursework_id=coursework_id)


def labels(request: Request, session: Session, coursework: str) -> dict[int, str]:
    """Every roster student's pseudonym for the coursework. Always drawn over the whole roster, so a
    rare shared number gets the same letter on every page."""
    return pseudonyms(request.app.state.settings.secret_key, coursework, session.scalars(select(Student.id)))


def masked_rows(request: Request, session: Session, coursework: str, rows: list[OverviewRow]) -> list[OverviewRow]:
    """The rows with each student's name and external id replaced by their pseudonym (so search and
    sort work on pseudonyms too, and reveal nothing)."""
    names = labels(request, session, coursework)
    return [dataclasses.replace(r, name=names[r.student_id], external_id=names[r.student_id]) for r in rows]
