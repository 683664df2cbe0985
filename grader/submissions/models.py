"""Outcomes of uploading: submissions, their files, duplicate flags, a lecturer's counting choice."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from grader.courseworks.models import Coursework  # noqa: F401  (referenced tables first)
from grader.db.base import Base
from grader.db.types import JSONValue, UTCDateTime, utcnow
from grader.roster.models import Student  # noqa: F401
from grader.scoring.lateness import received_at
from grader.users.models import User  # noqa: F401


class Submission(Base):
    """One upload, exactly as received. Never deleted or changed after the receipt."""

    __tablename__ = "submissions"
    __table_args__ = (
        # Retries with the same Idempotency-Key are the same submission. NULL keys never collide.
        UniqueConstraint("student_id", "coursework_id", "idempotency_key"),
        # Target of composite foreign keys that pin a row to this submission's student and coursework.
        UniqueConstraint("id", "student_id", "coursework_id"),
        Index("ix_submissions_student_coursework_received", "student_id", "coursework_id", "received_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    original_filename: Mapped[str] = mapped_column(String(255))
    blob_key: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # our clock, UTC
    # When a course system forwarding late says it received the file (a service token only).
    stated_received_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Against the student's deadline (extension included); recomputed when an extension is granted.
    late_minutes: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # student or service
    # The course system's own reference (a service token only; ``grader.submissions.references``).
    cate_submission_id: Mapped[str | None] = mapped_column(String(128), index=True)
    labts_repository: Mapped[str | None] = mapped_column(String(500))  # names its owner: hidden under anonymity
    labts_commit: Mapped[str | None] = mapped_column(String(64), index=True)
    # A repository snapshot's files the rubric allowed but does not grade: listed for the marker.
    ignored_files: Mapped[list[str] | None] = mapped_column(JSONValue)

    @property
    def receipt_time(self) -> dt.datetime:
        """What lateness is measured from: a stated time (only ever stored from a service token),
        never later than our own."""
        return received_at(self.received_at, self.stated_received_at, by_service=True)


class SubmissionFile(Base):
    """A file inside a submission (the notebook, each model file), hashed to flag copies."""

    __tablename__ = "submission_files"

    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(255), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)


class DuplicateFlag(Base):
    """A file identical to one an earlier submission of another student holds. For a person to judge."""

    __tablename__ = "duplicate_flags"
    __table_args__ = (UniqueConstraint("submission_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    # The earliest other student's submission with the same file: one flag per file, not one per pair.
    duplicate_of_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id"), index=True)
    flagged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CountingChoice(Base):
    """A lecturer's pick of the submission that counts, instead of the rubric's rule."""

    __tablename__ = "counting_choices"
    __table_args__ = (
        UniqueConstraint("student_id", "coursework_id"),
        # The chosen submission must be this student's, for this coursework.
        ForeignKeyConstraint(
            ["submission_id", "student_id", "coursework_id"],
            ["submissions.id", "submissions.student_id", "submissions.coursework_id"],
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"))
    submission_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    chosen_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    chosen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")
