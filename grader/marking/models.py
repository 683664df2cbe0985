"""Manual marks and overrides (with full history) and penalty decisions.

Kept apart from the runs' automatic scores (``run_item_scores``): a regrade writes a new run and
never touches a marker's work, so an override survives regrades.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grader.db.base import Base
from grader.db.types import UTCDateTime, str_enum
from grader.submissions.models import Submission  # noqa: F401  (referenced tables first)


class MarkKind(str, enum.Enum):
    manual = "manual"  # an item only a marker scores
    override = "override"  # a marker's score replacing an auto (or confirming a suggested) score


def _pinned_to_submission() -> ForeignKeyConstraint:
    # With submission_id set, it must be this student's submission for this coursework.
    # NULL submission_id: nothing to check (a mark for the student and coursework as a whole).
    return ForeignKeyConstraint(
        ["submission_id", "student_id", "coursework_id"],
        ["submissions.id", "submissions.student_id", "submissions.coursework_id"],
    )


class ManualMark(Base):
    """The current mark a marker gave one item, for one submission or for the student+coursework.

    ``version`` is an optimistic lock: a write names the version it read, and a stale one is
    refused, so two markers never silently overwrite each other.
    """

    __tablename__ = "manual_marks"
    __table_args__ = (
        _pinned_to_submission(),
        CheckConstraint("score IS NULL OR score >= 0", name="score_not_negative"),
        Index(
            "uq_manual_marks_submission_item",
            "submission_id",
            "item_id",
            unique=True,
            postgresql_where=text("submission_id IS NOT NULL"),
            sqlite_where=text("submission_id IS NOT NULL"),
        ),
        Index(
            "uq_manual_marks_student_coursework_item",
            "student_id",
            "coursework_id",
            "item_id",
            unique=True,
            postgresql_where=text("submission_id IS NULL"),
            sqlite_where=text("submission_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"))
    submission_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    item_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[MarkKind] = mapped_column(str_enum(MarkKind, "mark_kind"))
    score: Mapped[float | None] = mapped_column(Float)  # None: cleared (an override falls back to auto)
    comment: Mapped[str] = mapped_column(Text, default="")  # shown to the student after release
    version: Mapped[int] = mapped_column(Integer)
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    changes: Mapped[list[MarkChange]] = relationship(
        back_populates="mark", order_by="MarkChange.version", passive_deletes=True
    )

    __mapper_args__ = {"version_id_col": version}


class MarkChange(Base):
    """Every change to a manual mark: who, when, old value, new value, comment. Append-only."""

    __tablename__ = "mark_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    mark_id: Mapped[int] = mapped_column(ForeignKey("manual_marks.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)  # the mark's version after this change
    changed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    old_score: Mapped[float | None] = mapped_column(Float)
    new_score: Mapped[float | None] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")

    mark: Mapped[ManualMark] = relationship(back_populates="changes")


class PenaltyDecision(Base):
    """A marker applying or waiving a penalty (a rubric penalty id, or ``late``).

    Append-only: the latest row for (student, coursework, penalty) is in force and the earlier
    rows are its history (old value = the previous row).
    """

    __tablename__ = "penalty_decisions"
    __table_args__ = (
        _pinned_to_submission(),
        CheckConstraint("points IS NULL OR points >= 0", name="points_not_negative"),
        Index("ix_penalty_decisions_student_coursework", "student_id", "coursework_id", "penalty_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"))
    submission_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    penalty_id: Mapped[str] = mapped_column(String(64))
    applied: Mapped[bool] = mapped_column(Boolean)
    points: Mapped[float | None] = mapped_column(Float)  # None: the rubric's points
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
