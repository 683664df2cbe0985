"""The events about marks rather than runs: ``marks.released`` and ``mark.changed_after_release``.

Like ``emit_run_event`` these add outbox rows to the caller's transaction and never commit: the
release or the mark and its event are recorded together or not at all. Their payloads carry no
item message or comment, and are only written once the marks are released to the student, when
the visibility table lets the student see every item's name and score; so every endpoint, either
view, is sent the same payload.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework
from grader.courseworks.service import is_released
from grader.db.clock import db_now
from grader.roster.models import Student
from grader.settings import Settings
from grader.webhooks.models import WebhookDelivery
from grader.webhooks.service import (
    MARK_CHANGED_AFTER_RELEASE,
    MARKS_RELEASED,
    queue_deliveries,
    subscribed_endpoints,
)


def _public(public_url: str | None) -> str:
    return (public_url or Settings.model_fields["public_url"].default).rstrip("/")


def emit(*, session: Session, event_type: str, data: dict[str, Any], now: dt.datetime) -> list[WebhookDelivery]:
    """One outbox row per active endpoint subscribed to ``event_type``; flushes, never commits."""
    endpoints = subscribed_endpoints(session=session, event_type=event_type)
    if not endpoints:
        return []
    event_id = uuid.uuid4()
    payload = {"id": str(event_id), "type": event_type, "occurred_at": now.isoformat(), "data": data}
    return queue_deliveries(
        session=session,
        endpoints=endpoints,
        event_id=event_id,
        event_type=event_type,
        payload_for=lambda _: payload,
        now=now,
    )


def marks_released_data(
    coursework: Coursework, released_at: dt.datetime, first: bool, public_url: str
) -> dict[str, Any]:
    """One event per cohort release (pure): where to fetch the marks, not the marks themselves."""
    base = f"{public_url}/api/v1/courseworks/{coursework.code}"
    return {
        "coursework": coursework.code,
        "released_at": released_at.isoformat(),
        "first_release": first,  # False: released again (the first release time stands)
        "marks_url": f"{base}/marks",
        "export_url": f"{base}/export.csv",
        "feedback_url": f"{base}/feedback/{{student_external_id}}",
    }


def emit_marks_released(
    *, session: Session, coursework: Coursework, now: dt.datetime | None = None, public_url: str | None = None
) -> list[WebhookDelivery]:
    """Call before the release is committed, in its transaction (``grader.marking.release``)."""
    now = now or db_now(session)
    first = coursework.released_at is None
    data = marks_released_data(coursework, coursework.released_at or now, first, _public(public_url))
    return emit(session=session, event_type=MARKS_RELEASED, data=data, now=now)


def emit_mark_changed(
    *,
    session: Session,
    coursework_id: int,
    student_id: int,
    submission_id: uuid.UUID | None,
    change: dict[str, Any],
    now: dt.datetime,
    public_url: str | None = None,
) -> list[WebhookDelivery]:
    """A mark of a student whose marks are released changed (``change``: what changed, e.g.
    ``{"item_id": ..., "kind": "override", "old_score": 3.0, "new_score": 4.0}``; never a comment).
    Nothing before release: then the change is no news to anyone outside."""
    coursework = session.get_one(Coursework, coursework_id)  # a foreign key: the row is there
    if not is_released(session=session, coursework=coursework, student_id=student_id):
        return []
    student = session.get_one(Student, student_id)
    base = f"{_public(public_url)}/api/v1/courseworks/{coursework.code}"
    data = {
        "coursework": coursework.code,
        "student_external_id": student.external_id,
        "submission_id": str(submission_id) if submission_id else None,
        **change,
        "changed_at": now.isoformat(),
        "marks_url": f"{base}/marks",
        "feedback_url": f"{base}/feedback/{student.external_id}",
    }
    return emit(session=session, event_type=MARK_CHANGED_AFTER_RELEASE, data=data, now=now)
