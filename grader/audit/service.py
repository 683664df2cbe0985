"""Writing to the audit log, inside the caller's transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from grader.audit.models import AuditEvent


def record_event(
    *,
    session: Session,
    actor_id: int | None,
    action: str,
    subject_type: str,
    subject_id: object,
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> AuditEvent:
    """Add an event; it commits with the change it describes, or not at all."""
    event = AuditEvent(
        actor_id=actor_id, action=action, subject_type=subject_type, subject_id=str(subject_id), details=details or {}
    )
    if at is not None:
        event.at = at
    session.add(event)
    return event
