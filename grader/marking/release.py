"""Releasing a coursework's marks with its ``marks.released`` webhook event, in one transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework, Release
from grader.courseworks.service import release_coursework
from grader.db.clock import db_now
from grader.webhooks.course_events import emit_marks_released


def release_marks(
    *,
    session: Session,
    coursework: Coursework,
    released_by_id: int | None,
    note: str = "",
    public_url: str | None = None,
) -> Release:
    """``release_coursework``, with the event's outbox rows added first: its commit records both."""
    now = db_now(session)
    emit_marks_released(session=session, coursework=coursework, now=now, public_url=public_url)
    return release_coursework(session=session, coursework=coursework, released_by_id=released_by_id, note=note, now=now)
