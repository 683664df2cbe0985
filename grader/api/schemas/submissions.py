from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict


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
    """What a student keeps: proof that the file was received and is stored."""

    coursework: str
    late: bool


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    status: str
    attempt: int
    enqueued_at: dt.datetime
    finished_at: dt.datetime | None
    score: float | None
    max_score: float | None
    error: str | None
    error_kind: str | None


class PrecheckRead(BaseModel):
    """The quick pre-check (files named right, notebook valid, models load), ahead of full grading."""

    status: str  # queued | running | passed | failed | error (ours: full grading still runs)
    messages: list[str]  # for the student


class SubmissionRead(SubmissionReceipt):
    """A receipt with the grading status: received (no run yet), queued, running, graded, error."""

    status: str  # the full grading run's
    precheck: PrecheckRead | None = None  # None: no pre-check was queued (an older submission)
    runs: list[RunRead]


class RegradeRead(BaseModel):
    submission_id: uuid.UUID
    run: RunRead
