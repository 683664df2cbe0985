"""The module mark's own rows: each student's imported exam mark, and the lecturer's release of
module marks to students. Coursework marks are never stored here: they are computed from the
gradebook every time (``grader.marking.cohort``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base
from grader.db.types import UTCDateTime
from grader.roster.models import Student  # noqa: F401  (referenced tables first)
from grader.users.models import User  # noqa: F401


class ExamMark(Base):
    """A student's current exam mark (0..100). An import replaces it; the audit event of each
    import keeps every old and new value, so the history is never lost."""

    __tablename__ = "exam_marks"
    __table_args__ = (CheckConstraint("mark >= 0 AND mark <= 100", name="mark_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), unique=True)
    mark: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(200), default="")  # the imported file's name
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ModuleRelease(Base):
    """Module marks made visible to students. Releasing again adds a row and keeps the first time."""

    __tablename__ = "module_releases"

    id: Mapped[int] = mapped_column(primary_key=True)
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    released_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
