"""What each reader sees of queries: the student their own (item, message, outcome), a marker the
ones they answer, with the student named as this reader may name them (a GTA sees pseudonyms under
anonymous marking, and the student's message with their name, ids and file names scrubbed). One
builder for the API and the dashboard."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework
from grader.marking.anonymity import identity_view, rubric_file_names
from grader.marking.queries import staff_queries, student_queries, window_days
from grader.marking.query_models import MarkQuery, QueryStatus
from grader.rubrics.model import Rubric
from grader.users.models import User


@dataclass(frozen=True)
class QueryOutcome:
    """A query as its student sees it."""

    id: int
    item_id: str
    item_title: str
    message: str
    status: str
    raised_at: dt.datetime
    answer: str | None
    answered_at: dt.datetime | None
    old_score: float | None
    new_score: float | None
    max_score: float | None


@dataclass(frozen=True)
class StaffQuery(QueryOutcome):
    """A query as a marker sees it."""

    coursework: str
    submission_id: uuid.UUID
    student_name: str  # or the pseudonym
    external_id: str | None  # None: withheld from this reader
    pseudonym: str | None
    assigned_to: str | None  # the marker's username; None: the lecturers
    answered_by: str | None


def _titles(rubric: Rubric) -> dict[str, tuple[str, float]]:
    return {i.id: (i.title, i.points) for i in rubric.items}


def _outcome(q: MarkQuery, titles: dict[str, tuple[str, float]], message: str) -> dict:
    title, points = titles.get(q.item_id, (q.item_id, None))
    return dict(
        id=q.id,
        item_id=q.item_id,
        item_title=title,
        message=message,
        status=QueryStatus(q.status).value,
        raised_at=q.raised_at,
        answer=q.answer,
        answered_at=q.answered_at,
        old_score=q.old_score,
        new_score=q.new_score,
        max_score=points,
    )


def outcomes(*, session: Session, rubric: Rubric, coursework: Coursework, student_id: int) -> list[QueryOutcome]:
    titles = _titles(rubric)
    return [
        QueryOutcome(**_outcome(q, titles, q.message))
        for q in student_queries(session=session, coursework_id=coursework.id, student_id=student_id)
    ]


def staff_view(
    *, session: Session, rubric: Rubric, coursework: Coursework, reader: User, status: QueryStatus | None
) -> tuple[int | None, list[StaffQuery]]:
    """The coursework's query window (days; None: closed) and the queries this reader answers."""
    rows = staff_queries(session=session, coursework_id=coursework.id, reader=reader, status=status)
    view = identity_view(
        session=session, coursework_id=coursework.id, reader_role=reader.role, safe_names=rubric_file_names(rubric)
    )
    view.load(q.student_id for q in rows)
    wanted = {i for q in rows for i in (q.assigned_to_id, q.answered_by_id) if i is not None}
    names = dict(session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all()) if wanted else {}
    titles = _titles(rubric)
    out = []
    for q in view.ordered(rows, lambda q: q.student_id):  # pseudonym order for a GTA under anonymity
        shown = view.student(q.student_id)
        out.append(
            StaffQuery(
                **_outcome(q, titles, view.text(q.message, q.student_id)),
                coursework=coursework.code,
                submission_id=q.submission_id,
                student_name=shown.name,
                external_id=shown.external_id,
                pseudonym=shown.pseudonym,
                assigned_to=names.get(q.assigned_to_id) if q.assigned_to_id else None,
                answered_by=names.get(q.answered_by_id) if q.answered_by_id else None,
            )
        )
    return window_days(session=session, coursework_id=coursework.id), out
