"""Grading runs and their results, every result row keyed by its run."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grader.db.base import Base
from grader.db.types import JSONValue, UTCDateTime, str_enum
from grader.runs.preview_models import RegradePreview  # noqa: F401
from grader.submissions.models import Submission  # noqa: F401  (referenced tables first)
from grader.users.models import User  # noqa: F401


class RunKind(str, enum.Enum):
    precheck = "precheck"  # files named right, notebook valid, models load: answered within a minute
    full = "full"  # the hidden suite


class RunStatus(str, enum.Enum):
    queued = "queued"
    running = "running"
    graded = "graded"
    error = "error"  # a verdict on the file (error_kind submission) or retries exhausted (infrastructure)
    cancelled = "cancelled"
    # A newer submission of the same student replaced it while it waited (never the one that counts).
    superseded = "superseded"


LIVE_STATUSES = (RunStatus.queued, RunStatus.running)
_LIVE = "status IN ('queued', 'running')"


class GradingRun(Base):
    __tablename__ = "grading_runs"
    __table_args__ = (
        # One live run per submission and kind: enqueuing twice (a retried request) is harmless.
        # A regrade preview's staged run may wait beside the submission's ordinary one.
        Index(
            "uq_grading_runs_live_submission_kind",
            "submission_id",
            "kind",
            "staged",
            unique=True,
            postgresql_where=text(_LIVE),
            sqlite_where=text(_LIVE),
        ),
        # What claiming scans: queued runs by queue, prechecks first, oldest first.
        Index("ix_grading_runs_claim_order", "status", "queue", "priority", "enqueued_at"),
        Index("ix_grading_runs_lease_expires_at", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id"), index=True)
    kind: Mapped[RunKind] = mapped_column(str_enum(RunKind, "run_kind"))
    queue: Mapped[str] = mapped_column(String(32), default="cpu")  # cpu | gpu, from the rubric
    # The queue it waited on with no live worker before the sweeper moved it here (the rubric's
    # fallback_queue; grader.runs.fallback), and when: the student's status and the marker's note.
    fallback_from: Mapped[str | None] = mapped_column(String(32))
    fell_back_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    priority: Mapped[int] = mapped_column(SmallInteger, default=1)  # lower is claimed first (grader.runs.fair_queue)
    status: Mapped[RunStatus] = mapped_column(str_enum(RunStatus, "run_status"), default=RunStatus.queued)
    attempt: Mapped[int] = mapped_column(Integer, default=1)  # also the lease's fencing token
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # a regrade's requester
    worker_id: Mapped[str | None] = mapped_column(String(200))
    backend: Mapped[str | None] = mapped_column(String(32))  # bwrap | docker
    environment_digest: Mapped[str | None] = mapped_column(String(64))  # the runtime that graded
    hidden_digest: Mapped[str | None] = mapped_column(String(64))  # the hidden suite that graded
    rubric_digest: Mapped[str | None] = mapped_column(String(64))  # the rubric file that graded
    # A regrade preview's run (``grader.submissions.regrade_preview``). While ``staged`` its results
    # stand for nothing: every query that picks a submission's current run skips staged runs, so
    # no student, marker, export or webhook sees them until the lecturer applies the preview.
    preview_id: Mapped[int | None] = mapped_column(ForeignKey("regrade_previews.id"), index=True)
    staged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    seed: Mapped[int | None] = mapped_column(BigInteger)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Seconds to its claim estimated when it was queued (uncalibrated): its real wait calibrates later ETAs.
    claim_estimate_s: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)  # auto items minus penalties, clamped
    max_score: Mapped[float | None] = mapped_column(Float)
    auto_max_score: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    error_kind: Mapped[str | None] = mapped_column(String(32))  # submission | infrastructure
    protocol_violation: Mapped[str | None] = mapped_column(Text)
    # What ran and what was skipped (for the marker) and the sandbox's own report.
    details: Mapped[dict | None] = mapped_column(JSONValue)
    executed_notebook_key: Mapped[str | None] = mapped_column(String(255))  # blob of the executed notebook
    # The notebook as submitted (the student's own outputs), rendered and sanitised for markers.
    rendered_notebook_key: Mapped[str | None] = mapped_column(String(255))
    log: Mapped[str] = mapped_column(Text, default="")
    # The submission whose arrival superseded this run while it waited (status superseded).
    superseded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("submissions.id"))

    tests: Mapped[list[RunTestResult]] = relationship(back_populates="run", order_by="RunTestResult.test_id")
    items: Mapped[list[RunItemScore]] = relationship(back_populates="run", order_by="RunItemScore.position")
    penalties: Mapped[list[RunPenalty]] = relationship(back_populates="run", order_by="RunPenalty.position")
    artifacts: Mapped[list[RunArtifact]] = relationship(back_populates="run", order_by="RunArtifact.position")


# Every query that picks the runs a reader sees (a submission's current run, its run history, the
# coursework's progress) adds this: a staged run of a pending or discarded regrade preview is none.
NOT_STAGED = GradingRun.staged.is_(False)


class RunTestResult(Base):
    """One hidden test as the judge saw it in this run."""

    __tablename__ = "run_test_results"
    __table_args__ = (UniqueConstraint("run_id", "test_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("grading_runs.id", ondelete="CASCADE"))
    test_id: Mapped[str] = mapped_column(String(500))  # pytest node id
    outcome: Mapped[str] = mapped_column(String(32))
    fraction: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text, default="")
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)

    run: Mapped[GradingRun] = relationship(back_populates="tests")


class RunItemScore(Base):
    """An item's automatic score from this run. Markers' marks live apart (``manual_marks``)."""

    __tablename__ = "run_item_scores"
    __table_args__ = (UniqueConstraint("run_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("grading_runs.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)  # the rubric's order
    part: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # auto | manual | suggest
    status: Mapped[str] = mapped_column(String(16))  # passed | partial | failed | timeout | error | manual
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(16))

    run: Mapped[GradingRun] = relationship(back_populates="items")


class RunPenalty(Base):
    """A rubric penalty as this run decided it (applied or not)."""

    __tablename__ = "run_penalties"
    __table_args__ = (UniqueConstraint("run_id", "penalty_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("grading_runs.id", ondelete="CASCADE"))
    penalty_id: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    points: Mapped[float] = mapped_column(Float)
    applied: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(16))

    run: Mapped[GradingRun] = relationship(back_populates="penalties")


class RunArtifact(Base):
    """A PNG a hidden test drew in this run (the judge's ``artifacts`` fixture), kept in the blob
    store for markers. ``item_id``: the rubric item whose test drew it (None: no item's), whose
    visibility decides whether and when a student sees it (``grader.runs.artifact_view``)."""

    __tablename__ = "run_artifacts"
    __table_args__ = (UniqueConstraint("run_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("grading_runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))  # [a-z0-9_-]{1,64}
    position: Mapped[int] = mapped_column(Integer)  # the order the tests saved them
    title: Mapped[str] = mapped_column(String(200), default="")
    media_type: Mapped[str] = mapped_column(String(100))
    blob_key: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    item_id: Mapped[str | None] = mapped_column(String(64))  # None: staff only

    run: Mapped[GradingRun] = relationship(back_populates="artifacts")
