from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict

from grader.marking.run_view import precheck_outcome, run_outcome
from grader.runs.fallback import fallback_note
from grader.runs.models import GradingRun


class SubmissionBase(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    sha256: str
    size_bytes: int
    original_filename: str
    received_at: dt.datetime  # our clock, UTC
    stated_received_at: dt.datetime | None  # the course system's, when it forwarded the file
    late_minutes: int


class SubmissionReceipt(SubmissionBase):
    """What a student keeps: proof that the file was received and is stored. A course system's
    reference comes back as it sent it (null when none; withheld from a GTA under anonymous
    marking); ``ignored_files``: a repository snapshot's files that are not graded."""

    coursework: str
    late: bool
    cate_submission_id: str | None = None
    labts_repository: str | None = None
    labts_commit: str | None = None
    ignored_files: list[str] = []


class RunRead(BaseModel):
    """One grading run as its reader may see it (``grader.marking.run_view``). A student, or a
    token with the student view, gets ``score`` and ``max_score`` only once the marks are released
    (null before: the score includes hidden items), the visible items' score at any time, and for
    a failure of ours a fixed sentence instead of its text."""

    id: int
    kind: str
    status: str
    attempt: int
    enqueued_at: dt.datetime
    finished_at: dt.datetime | None
    score: float | None  # every automatic item minus penalties; students: null until released
    max_score: float | None  # every point, manual included; students: null until released
    visible_score: float | None = None  # the visible automatic items' score (a graded run)
    visible_max_score: float | None = None  # what the visible automatic items are out of
    error: str | None
    error_kind: str | None
    # Where it was graded, and why there when it fell back (``grader.runs.fallback``): "no GPU
    # worker was available, so this run moved to the CPU workers ...". Null for any other run.
    queue: str | None = None
    note: str | None = None

    @classmethod
    def of(cls, run: GradingRun, *, student_view: bool, released: bool) -> RunRead:
        seen = run_outcome(run, student_view=student_view, released=released)
        return cls(
            id=run.id,
            kind=run.kind.value,
            status=run.status.value,
            attempt=run.attempt,
            enqueued_at=run.enqueued_at,
            finished_at=run.finished_at,
            score=seen.score,
            max_score=seen.max_score,
            visible_score=seen.visible_score,
            visible_max_score=seen.visible_max_score,
            error=seen.error,
            error_kind=run.error_kind,
            queue=run.queue,
            note=fallback_note(run),
        )


class PrecheckRead(BaseModel):
    """The quick pre-check (files named right, notebook valid, models load), ahead of full grading."""

    status: str  # queued | running | passed | failed | error (ours: full grading still runs)
    messages: list[str]  # for the student

    @classmethod
    def from_run(cls, run: GradingRun) -> PrecheckRead:
        """The pre-check as the student reads it (``precheck_outcome``)."""
        outcome = precheck_outcome(run)
        return cls(status=outcome.status, messages=outcome.messages)


class QueueWaitRead(BaseModel):
    """Where the submission's full run waits: its place in the claim order (1: next), the estimated
    seconds until its result (null: not known yet, or no live worker), and the sentence a student
    reads ("queued: 3rd in line, result in about 2 min", "waiting for a GPU worker"). Only this
    run's own place: nothing about any other submission."""

    position: int
    eta_s: float | None
    message: str


class SubmissionRead(SubmissionReceipt):
    """A receipt with the grading status: received (no run yet), queued, running, graded, error,
    superseded (a newer submission of the same student replaced it while it waited)."""

    status: str  # the full grading run's
    precheck: PrecheckRead | None = None  # None: no pre-check was queued (an older submission)
    queue: QueueWaitRead | None = None  # while the full run is queued
    runs: list[RunRead]


class RegradeRead(BaseModel):
    submission_id: uuid.UUID
    run: RunRead
