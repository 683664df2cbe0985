"""Marking at scale: the comment bank, markers' allocations, the anonymous-marking switch and its
stored pseudonyms, and the lecturer's moderation samples. What people decided about marking, never
marks themselves (those stay in ``manual_marks``).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base
from grader.db.types import UTCDateTime, str_enum
from grader.submissions.models import Submission  # noqa: F401  (referenced tables first)


class CommentBankEntry(Base):
    """A comment markers keep for one rubric item, to reuse with a click."""

    __tablename__ = "comment_bank"
    __table_args__ = (Index("ix_comment_bank_coursework_item", "coursework_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"))
    item_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class MarkingAllocation(Base):
    """Which marker marks a student's work for a coursework (a student, not a submission: the
    counting submission may change after the allocation)."""

    __tablename__ = "marking_allocations"
    __table_args__ = (UniqueConstraint("coursework_id", "student_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    marker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    allocated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    allocated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class MarkingSettings(Base):
    """Per-coursework marking switches a lecturer sets. No row: the defaults (names shown)."""

    __tablename__ = "marking_settings"

    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"), primary_key=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)  # GTAs see pseudonyms, not names
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ModerationSample(Base):
    """One draw of submissions for the lecturer to second-mark. The latest draw is the one shown;
    earlier ones (and what was decided on them) are kept."""

    __tablename__ = "moderation_samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    percent: Mapped[float] = mapped_column(Float)
    minimum: Mapped[int] = mapped_column(Integer)
    drawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    drawn_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ModerationOutcome(str, enum.Enum):
    agreed = "agreed"  # the first marker's marks stand
    adjusted = "adjusted"  # the moderator changed them (on the marking page, with history)


class ModerationPick(Base):
    """A submission in a moderation sample, with the band and marker it was drawn for."""

    __tablename__ = "moderation_picks"
    __table_args__ = (UniqueConstraint("sample_id", "student_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("moderation_samples.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id"))
    band: Mapped[str] = mapped_column(String(32))
    marker_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: nobody marked it yet
    total_at_draw: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[ModerationOutcome | None] = mapped_column(str_enum(ModerationOutcome, "moderation_outcome"))
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CandidatePseudonym(Base):
    """A student's pseudonym for one coursework ("Candidate 041307"), drawn at random the first time
    anyone needs it and never changed, so a label means the same script for the whole marking. Only
    this table links a label to a student: nothing about the student goes into drawing it."""

    __tablename__ = "candidate_pseudonyms"
    __table_args__ = (UniqueConstraint("coursework_id", "student_id"), UniqueConstraint("coursework_id", "label"))

    id: Mapped[int] = mapped_column(primary_key=True)
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    label: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
