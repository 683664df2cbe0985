"""Queries after release: a student asks a marker to look again at one item of their released mark,
and the coursework's query window (how long after release a query may be raised)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base
from grader.db.types import UTCDateTime, str_enum
from grader.marking.models import ManualMark  # noqa: F401  (referenced tables first)

OPEN = text("status = 'open'")


class QueryStatus(str, enum.Enum):
    open = "open"
    answered = "answered"


class MarkQuery(Base):
    """One query on one item of a student's released mark. At most one is open per student and item.

    ``assigned_to_id`` is the item's marker (the student's allocation when raised); NULL: the
    lecturers. The answer records the score in force before and after: a changed mark is written
    through the markers' own path (``desk.save_mark``), so it is in the mark's history too.
    """

    __tablename__ = "mark_queries"
    __table_args__ = (
        Index(
            "uq_mark_queries_open_item",
            "student_id",
            "coursework_id",
            "item_id",
            unique=True,
            postgresql_where=OPEN,
            sqlite_where=OPEN,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    submission_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("submissions.id"))
    item_id: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[QueryStatus] = mapped_column(str_enum(QueryStatus, "query_status"), default=QueryStatus.open)
    raised_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # the student, or a course system
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    old_score: Mapped[float | None] = mapped_column(Float)  # the item's score in force when answered
    new_score: Mapped[float | None] = mapped_column(Float)  # the score after the answer (the same when unchanged)


class QueryWindow(Base):
    """How many days after the marks' release a student may raise a query (no row: queries closed)."""

    __tablename__ = "query_windows"

    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"), primary_key=True)
    days: Mapped[int] = mapped_column(Integer)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
