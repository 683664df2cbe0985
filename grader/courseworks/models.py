"""Definitions: a coursework (pinned to one rubric and hidden suite), extensions, releases."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base
from grader.db.types import UTCDateTime, utcnow
from grader.roster.models import Student  # noqa: F401  (referenced tables first)
from grader.users.models import User  # noqa: F401


class Coursework(Base):
    __tablename__ = "courseworks"
    __table_args__ = (CheckConstraint("weight >= 0 AND weight <= 1", name="weight_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # the rubric's id: cw1
    title: Mapped[str] = mapped_column(String(200))
    weight: Mapped[float] = mapped_column(Float)  # share of the coursework mark; 0: unassessed (a tutorial)
    rubric_version: Mapped[str] = mapped_column(String(32))
    # Digests pin what grades: a changed rubric or hidden suite is visible, never silent.
    rubric_digest: Mapped[str] = mapped_column(String(64))
    hidden_digest: Mapped[str] = mapped_column(String(64))
    deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # an instant; shown in `timezone`
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # marks visible to the cohort
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeadlineExtension(Base):
    """A later deadline for one student. It can only move the deadline later."""

    __tablename__ = "deadline_extensions"
    __table_args__ = (UniqueConstraint("student_id", "coursework_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"), index=True)
    deadline: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="")
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Release(Base):
    """Marks made visible: to the whole cohort (student_id NULL) or to one student (late work)."""

    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(primary_key=True)
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"), index=True)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"))
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    released_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")


class MitigatingCircumstance(Base):
    """A lecturer's decision that a student's late penalty on one coursework is waived.

    The lateness is still recorded and shown to markers ("late, penalty waived"); the reason is
    the lecturer's (hidden from markers while the coursework is marked anonymously).
    """

    __tablename__ = "mitigating_circumstances"
    __table_args__ = (UniqueConstraint("student_id", "coursework_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
