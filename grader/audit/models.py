"""One append-only audit table for actions people and services take."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base
from grader.db.types import JSONValue, UTCDateTime, utcnow
from grader.users.models import User  # noqa: F401  (referenced tables first)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)  # None: the system
    action: Mapped[str] = mapped_column(String(64))  # e.g. mark.set, extension.grant, release
    subject_type: Mapped[str] = mapped_column(String(64))  # e.g. submission, coursework
    subject_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(JSONValue, default=dict)
