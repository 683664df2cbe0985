"""Upload attempts per student and coursework, for the hourly upload limit.

Every upload that passes the limit is an attempt, whatever becomes of it (stored, refused as
invalid or too large, cut off): refused uploads cost the service as much as accepted ones.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from grader.courseworks.models import Coursework  # noqa: F401  (referenced tables first)
from grader.db.base import Base
from grader.db.types import UTCDateTime
from grader.roster.models import Student  # noqa: F401


class UploadQuota(Base):
    """One row per (student, coursework): written first by every check, so that concurrent
    uploads of one student to one coursework take their turn (a row lock on Postgres, the write
    lock on SQLite) and the count-then-record below cannot interleave."""

    __tablename__ = "upload_quotas"

    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), primary_key=True)
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id", ondelete="CASCADE"), primary_key=True)
    last_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class UploadAttempt(Base):
    """One counted upload attempt. Rows older than the window are deleted as new ones arrive."""

    __tablename__ = "upload_attempts"
    __table_args__ = (Index("ix_upload_attempts_student_coursework_at", "student_id", "coursework_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
