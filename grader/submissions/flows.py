"""Receiving an upload end to end, and queueing its grading, in the order that makes a receipt safe:

count the attempt (the hourly limit) -> check (size, notebook schema, zip members, names; in a
limited child process) -> store the blob (fsynced) -> commit the row -> (the caller replies with
the receipt) -> enqueue a run -> wake a worker. Nothing is stored for a refused upload: the
checks run on a private temp copy, before the blob store is touched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from grader.blobs import BlobStore
from grader.blobs.base import CHUNK
from grader.grading.intake import SubmissionError
from grader.rubrics.model import Rubric
from grader.runs.fair_queue import RAISED
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.runs.service import enqueue_run, get_run, raise_priority
from grader.settings import ExecutionLimits, Settings
from grader.submissions.models import Submission
from grader.submissions.quota import count_upload_attempt, hourly_limit
from grader.submissions.references import NO_REF, ExternalRef
from grader.submissions.run_queue import RunQueue
from grader.submissions.service import IdempotencyConflict, ReceivedFile, record_submission
from grader.submissions.supersede import supersede_waiting_runs
from grader.submissions.upload_check import CheckBounds, inspect_upload

log = logging.getLogger(__name__)
PRECHECK_QUEUE = "precheck"  # pre-checks need no GPU: every `grader worker` serves this queue


class UploadTooLarge(SubmissionError):
    pass


@dataclass(frozen=True)
class Spooled:
    path: Path
    sha256: str
    size: int


def spool(stream: BinaryIO, folder: Path, max_bytes: int) -> Spooled:
    """Copy an upload to a private temp file, hashing it; refuse it past ``max_bytes``."""
    digest, size = hashlib.sha256(), 0
    path = folder / "upload"
    with path.open("wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise UploadTooLarge(f"the file is larger than the {max_bytes // 2**20} MB the service accepts.")
            digest.update(chunk)
            out.write(chunk)
    return Spooled(path, digest.hexdigest(), size)


def check_bounds_of(settings: Settings) -> CheckBounds:
    """The upload check's limits from the settings."""
    return CheckBounds(
        cpu_s=settings.upload_check_cpu_s,
        timeout_s=settings.upload_check_timeout_s,
        memory_mb=settings.upload_check_memory_mb,
        fork=settings.fork_servers,
    )


def hourly_limit_of(settings: Settings, rubric: Rubric) -> int:
    """The upload limit for one coursework (``grader.submissions.quota.hourly_limit``)."""
    return hourly_limit(
        rubric, assessed=settings.submissions_per_hour, unassessed=settings.tutorial_submissions_per_hour
    )


def safe_filename(name: str | None) -> str:
    """The uploader's file name as we record it: its last path part, printable, at most 255 chars."""
    base = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1].strip() or "upload"
    return "".join(c for c in base if c.isprintable())[:255] or "upload"


def admit_upload(
    *, session: Session, student_id: int, coursework_id: int, per_hour: int, idempotency_key: str | None = None
) -> Submission | None:
    """Before the body is read: the submission an ``idempotency_key`` retry gets the receipt of
    (not counted), else None once this attempt is counted against the hourly limit (commits).
    Raises ``RateLimited``."""
    earlier = _by_key(session, student_id, coursework_id, idempotency_key) if idempotency_key else None
    if earlier is None:
        count_upload_attempt(session=session, student_id=student_id, coursework_id=coursework_id, per_hour=per_hour)
    session.rollback()  # end the read transaction: what follows may take a while
    return earlier


def receive_upload(
    *,
    session: Session,
    store: BlobStore,
    rubric: Rubric,
    coursework_id: int,
    student_id: int,
    stream: BinaryIO,
    original_filename: str,
    max_bytes: int,
    limits: ExecutionLimits,
    per_hour: int,
    idempotency_key: str | None = None,
    stated_received_at: dt.datetime | None = None,
    submitted_by_id: int | None = None,
    check_bounds: CheckBounds,
    admitted: bool = False,
    reference: ExternalRef = NO_REF,
) -> tuple[Submission, bool]:
    """Count, check, store and record one upload. Returns (submission, created).

    ``admitted``: the caller already ran ``admit_upload`` (before reading the body), so the
    attempt is not counted twice. ``check_bounds`` limit the check's child process. Raises
    ``SubmissionError`` (the file; message for the student), ``IdempotencyConflict``,
    ``RateLimited``. When it returns with created True the blob is durable and the row committed.
    ``reference``: the course system's own (the API passes it only from a service token).
    """
    if admitted:
        earlier = _by_key(session, student_id, coursework_id, idempotency_key) if idempotency_key else None
        session.rollback()
    else:
        earlier = admit_upload(
            session=session,
            student_id=student_id,
            coursework_id=coursework_id,
            per_hour=per_hour,
            idempotency_key=idempotency_key,
        )
    with tempfile.TemporaryDirectory(prefix="grader-upload-") as tmp:
        spooled = spool(stream, Path(tmp), max_bytes)
        if earlier is not None:
            # A retry: the same file gets the same receipt; another file is refused, storing nothing.
            if earlier.sha256 != spooled.sha256:
                raise IdempotencyConflict(
                    "this Idempotency-Key was already used for a different file; use a new key for a new upload."
                )
            return earlier, False
        checked = inspect_upload(spooled.path, rubric, Path(tmp) / "staged", limits, check_bounds)
        files = [ReceivedFile(f.name, f.sha256, f.size_bytes) for f in checked.files]
        with spooled.path.open("rb") as fh:
            blob = store.put(fh, max_bytes=max_bytes)
    if blob.sha256 != spooled.sha256:  # the temp copy changed under us: never record a wrong hash
        raise RuntimeError("upload changed while it was being stored")
    return record_submission(
        session=session,
        coursework_id=coursework_id,
        student_id=student_id,
        sha256=blob.sha256,
        size_bytes=blob.size,
        original_filename=original_filename,
        blob_key=blob.sha256,
        files=files,
        idempotency_key=idempotency_key,
        stated_received_at=stated_received_at,
        submitted_by_id=submitted_by_id,
        reference=reference,
        ignored_files=checked.ignored,
    )


def queue_grading(
    *,
    session: Session,
    run_queue: RunQueue,
    submission_id: uuid.UUID,
    queue: str,
    requested_by_id: int | None = None,
    precheck: bool = False,
    supersede_grace_minutes: int | None = None,
) -> GradingRun | None:
    """Enqueue a full grading run and wake a worker through ``run_queue``; with ``precheck`` (a new
    submission), a pre-check run first, on its own queue, claimed ahead of any full run. Returns the
    full run. With ``supersede_grace_minutes`` (a new submission: its late policy's grace), the
    student's older runs still waiting are superseded first (``grader.submissions.supersede``).

    Never raises: the submission is already safe. A full run that was not queued or woken is picked
    up by the sweeper; a pre-check that was not queued is not (it is advice: the full run stands
    for it), one that was queued but not woken is re-woken like any queued run.
    """
    if supersede_grace_minutes is not None:
        _supersede(session, submission_id, supersede_grace_minutes)
    check = _enqueue(session, submission_id, RunKind.precheck, PRECHECK_QUEUE, requested_by_id) if precheck else None
    run = _enqueue(session, submission_id, RunKind.full, queue, requested_by_id)
    for woken in (check, run):
        if woken is not None:
            _wake(run_queue, woken.id, woken.queue)
    return run


GRADE_FIRST_ATTEMPTS = 3


def grade_first(
    *, session: Session, run_queue: RunQueue, submission_id: uuid.UUID, queue: str, lecturer_id: int
) -> GradingRun | None:
    """A lecturer's "grade this submission first": its queued full run is raised above the round-robin;
    a superseded one is brought back raised; with none live, a raised run is queued. A running run is
    left as it is. Returns the run (None: it could not be queued; try again)."""
    for attempt in range(1, GRADE_FIRST_ATTEMPTS + 1):
        try:
            run = enqueue_run(
                session=session, submission_id=submission_id, queue=queue, requested_by_id=lecturer_id, priority=RAISED
            )
            run = get_run(session=session, run_id=run.id) or run  # as the database has it now, not as last loaded
            if run.status is RunStatus.queued and run.priority != RAISED:
                raise_priority(session=session, run=run, raised_by_id=lecturer_id)
                run = get_run(session=session, run_id=run.id) or run
            break
        except OperationalError:
            # SQLite refuses to turn a read transaction into a write once another connection has
            # written since it began ("database is locked", at once, whatever the busy timeout): a
            # worker claiming or moving a run meanwhile. A fresh transaction sees its write.
            session.rollback()
            if attempt == GRADE_FIRST_ATTEMPTS:
                log.exception("could not raise the priority of submission %s", submission_id)
                return None
        except Exception:
            session.rollback()
            log.exception("could not raise the priority of submission %s", submission_id)
            return None
    if run.status is RunStatus.queued:
        _wake(run_queue, run.id, run.queue)
    return run


def _enqueue(
    session: Session,
    submission_id: uuid.UUID,
    kind: RunKind,
    queue: str,
    requested_by_id: int | None,
) -> GradingRun | None:
    try:
        return enqueue_run(
            session=session, submission_id=submission_id, kind=kind, queue=queue, requested_by_id=requested_by_id
        )
    except Exception:
        session.rollback()
        log.exception("could not enqueue a %s run for submission %s", kind.value, submission_id)
        return None


def _supersede(session: Session, submission_id: uuid.UUID, grace_minutes: int) -> None:
    try:
        submission = session.get(Submission, submission_id)
        if submission is not None:
            supersede_waiting_runs(session=session, submission=submission, grace_minutes=grace_minutes)
    except Exception:  # the older runs stay queued and are graded: slower, never wrong
        session.rollback()
        log.exception("could not supersede the older runs for submission %s", submission_id)


def _wake(run_queue: RunQueue, run_id: int, queue: str) -> None:
    try:
        run_queue.wake(run_id, queue)
    except Exception:  # the run is committed: a lost wake-up only costs time (the sweeper re-wakes it)
        log.exception("could not wake a worker for run %s (the sweeper will)", run_id)


def _by_key(session: Session, student_id: int, coursework_id: int, key: str) -> Submission | None:
    return session.scalars(
        select(Submission).where(
            Submission.student_id == student_id,
            Submission.coursework_id == coursework_id,
            Submission.idempotency_key == key,
        )
    ).first()
