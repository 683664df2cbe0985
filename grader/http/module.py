"""The courseworks this app serves, as (rubric, gradebook row) pairs: what the module's marks are made of."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework
from grader.rubrics.model import Rubric


def served_courseworks(request: Request, session: Session) -> list[tuple[Rubric, Coursework]]:
    """Every coursework whose rubric the app loaded and the gradebook holds, by code."""
    files = request.app.state.courseworks
    rows = session.scalars(select(Coursework).where(Coursework.code.in_(list(files)))).all()
    return sorted(((files[r.code].rubric, r) for r in rows), key=lambda pair: pair[1].code)
