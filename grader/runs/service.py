"""The queue of record: grading runs, their leases, and their results.

The broker only carries wake-ups; these rows decide who grades what. A worker claims a queued run
and gets a ``Lease`` (the run id, its worker and its attempt, which fences out a worker whose lease
was taken away); it renews the lease by heartbeats while it grades, then completes the run. A run
whose lease runs out goes back to the queue (the sweeper), so a vanished worker loses nothing.

Each function that changes rows is one transaction and commits before it returns. Times come from
the database's clock unless ``now`` is given (tests).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.courseworks.models import Coursework
from grader.db.clock import db_now
from grader.db.dml import rowcount
from grader.grading.report import GradeReport
from grader.runs.fair_queue import FAIR_WINDOW_S, NORMAL, RAISED, claim_candidates, full_run_priority
from grader.runs.models import (
    LIVE_STATUSES,
    NOT_STAGED,
    GradingRun,
    RunArtifact,
    RunItemScore,
    RunKind,
    RunPenalty,
    RunStatus,
    RunTestResult,
)
from grader.runs.waits import run_wait
from grader.scoring.outcomes import TestResult
from grader.settings import RUN_LEASE_S as DEFAULT_LEASE_S  # one default: the settings'
from grader.settings import RUN_MAX_ATTEMPTS as DEFAULT_MAX_ATTEMPTS
from grader.submissions.models import Submission
from grader.webhooks.service import emit_run_event

MAX_LOG_CHARS = 1_000_000  # the tail is kept: that is where the failure is
PRIORITY = NORMAL  # pre-checks answer within a minute: first in line (grader.runs.fair_queue)


@dataclass(frozen=True)
class Lease:
    """A worker's hold on one run. Every later call names it; a stale one is refused."""

    run_id: int
    submission_id: uuid.UUID
    kind: RunKind
    worker_id: str
    attempt: int
    expires_at: dt.datetime


def enqueue_run(
    *,
    session: Session,
    submission_id: uuid.UUID,
    kind: RunKind = RunKind.full,
    queue: str = "cpu",
    requested_by_id: int | None = None,
    priority: int | None = None,
    now: dt.datetime | None = None,
) -> GradingRun:
    """Queue a run, or return the run already queued or running for this submission and kind.

    A run superseded while it waited is queued again (it keeps its place in time) rather than a new
    one made: asking for a superseded submission to be graded brings its run back."""
    existing = _live_run(session, submission_id, kind)
    if existing is not None:
        return existing
    revived = _revive_superseded(session, submission_id, kind, requested_by_id, priority)
    if revived is not None:
        return revived
    run = GradingRun(
        submission_id=submission_id,
        kind=kind,
        queue=queue,
        priority=_default_priority(session, submission_id, kind) if priority is None else priority,
        status=RunStatus.queued,
        attempt=1,
        requested_by_id=requested_by_id,
        enqueued_at=now or db_now(session),
    )
    try:
        with session.begin_nested():
            session.add(run)
    except IntegrityError:
        # Someone enqueued the same run between our look and our insert (a partial unique index);
        # the savepoint has been rolled back, the transaction goes on.
        existing = _live_run(session, submission_id, kind)
        if existing is None:
            raise
        return existing
    session.commit()
    if kind is RunKind.full:  # the run whose ETA a student is shown
        _record_claim_estimate(session, run)
    return run


def _record_claim_estimate(session: Session, run: GradingRun) -> None:
    """Keep the wait to its claim estimated now, as the student is shown it: once the run is
    claimed, its real wait calibrates the ETAs after it (``grader.runs.eta.calibration``)."""
    wait = run_wait(session=session, run=run, now=run.enqueued_at)
    if wait is not None and wait.claim_estimate_s is not None:
        run.claim_estimate_s = wait.claim_estimate_s  # this column alone: a claim meanwhile is untouched
        session.commit()


def claim_next_run(
    *,
    session: Session,
    worker_id: str,
    queues: Collection[str] = ("cpu",),
    lease_s: float = DEFAULT_LEASE_S,
    fair_window_s: float = FAIR_WINDOW_S,
    fair: bool = True,
    now: dt.datetime | None = None,
) -> Lease | None:
    """Take the next queued run from these queues in the fair order (``grader.runs.fair_queue``:
    priority, pre-checks, round-robin by student, oldest), or None. ``fair`` False: priority, then
    first in, first out (the ``fair_queue`` setting off)."""
    now = now or db_now(session)
    candidates, run = claim_candidates(queues, now, fair_window_s, round_robin=fair)
    next_id = (
        candidates.limit(1)
        # Postgres: concurrent claimers skip a row another claimer holds instead of queueing on it.
        # SQLite ignores this; it serialises writers, and the status guard in _claim does the rest.
        .with_for_update(skip_locked=True, of=run)
        .scalar_subquery()
    )
    return _claim(session, GradingRun.id == next_id, worker_id, lease_s, now)


def claim_run(
    *,
    session: Session,
    run_id: int,
    worker_id: str,
    lease_s: float = DEFAULT_LEASE_S,
    now: dt.datetime | None = None,
) -> Lease | None:
    """Take this run if it is still queued (a wake-up naming it); None if another worker has it."""
    return _claim(session, GradingRun.id == run_id, worker_id, lease_s, now)


def renew_lease(
    *, session: Session, lease: Lease, lease_s: float = DEFAULT_LEASE_S, now: dt.datetime | None = None
) -> Lease | None:
    """Heartbeat. None when the lease was lost (swept and maybe re-claimed): stop grading."""
    now = now or db_now(session)
    expires = now + dt.timedelta(seconds=lease_s)
    result = session.execute(
        update(GradingRun)
        .where(_held(lease))
        .values(lease_expires_at=expires, heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if rowcount(result) != 1:
        return None
    return Lease(lease.run_id, lease.submission_id, lease.kind, lease.worker_id, lease.attempt, expires)


def complete_run(
    *,
    session: Session,
    lease: Lease,
    report: GradeReport,
    tests: Mapping[str, TestResult] | None = None,
    log: str = "",
    backend: str | None = None,
    environment_digest: str | None = None,
    hidden_digest: str | None = None,
    rubric_digest: str | None = None,
    executed_notebook_key: str | None = None,
    rendered_notebook_key: str | None = None,
    artifact_keys: Mapping[str, str] | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    now: dt.datetime | None = None,
    public_url: str | None = None,
) -> RunStatus | None:
    """Write a grading report: the run's row and every result row, in one transaction.

    ``artifact_keys``: each of ``report.artifacts`` stored in the blob store (name -> blob key), stored
    before this call, like the executed notebook; one ``run_artifacts`` row each.

    Returns the run's new status, or None when the lease is no longer held (the run was completed
    already, or swept and given to another worker): then nothing is written, so a task that runs
    twice never counts twice. An infrastructure error is not a verdict: it goes to ``fail_run``.
    """
    if report.status == "error" and report.error_kind != "submission":
        return fail_run(
            session=session,
            lease=lease,
            error=report.error or "infrastructure error",
            log=log,
            max_attempts=max_attempts,
            now=now,
            public_url=public_url,
        )
    now = now or db_now(session)
    graded = report.status == "graded"
    result = session.execute(
        update(GradingRun)
        .where(_held(lease))
        .values(
            status=RunStatus.graded if graded else RunStatus.error,
            finished_at=now,
            lease_expires_at=None,
            duration_s=report.duration_s,
            seed=report.seed,
            score=report.score if graded else None,
            max_score=report.max_score,
            auto_max_score=report.auto_max_score,
            error=report.error,
            error_kind=report.error_kind,
            protocol_violation=report.protocol_violation,
            details={"execution": report.execution, "sandbox": report.sandbox},
            backend=backend,
            environment_digest=environment_digest,
            hidden_digest=hidden_digest,
            rubric_digest=rubric_digest,
            executed_notebook_key=executed_notebook_key,
            rendered_notebook_key=rendered_notebook_key,
            log=_tail(log),
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        session.rollback()
        return None
    session.add_all(_result_rows(lease.run_id, report, tests or {}))
    session.add_all(_artifact_rows(lease.run_id, report, artifact_keys or {}))
    # The outbox, in this same transaction; its links point at ``public_url`` (the caller's settings).
    emit_run_event(session=session, run_id=lease.run_id, now=now, public_url=public_url)
    session.commit()
    return RunStatus.graded if graded else RunStatus.error


def fail_run(
    *,
    session: Session,
    lease: Lease,
    error: str,
    log: str = "",
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    now: dt.datetime | None = None,
    public_url: str | None = None,
) -> RunStatus | None:
    """Record an infrastructure failure: back to the queue for another attempt, or, with the
    attempts used up, an error. Returns the new status (queued: wake a worker), None if not held."""
    now = now or db_now(session)
    retry = lease.attempt < max_attempts
    # heartbeat_at: the failed attempt's last sign of life, from which the sweeper counts the backoff.
    values = {**_requeue_values(), "heartbeat_at": now} if retry else _give_up_values(now)
    result = session.execute(
        update(GradingRun)
        .where(_held(lease))
        .values(error=error, error_kind="infrastructure", log=_tail(log), **values)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        session.rollback()
        return None
    if not retry:
        # submission.grading_failed
        emit_run_event(session=session, run_id=lease.run_id, now=now, public_url=public_url)
    session.commit()
    return RunStatus.queued if retry else RunStatus.error


def complete_precheck(
    *,
    session: Session,
    lease: Lease,
    passed: bool,
    messages: list[str],
    details: Mapping[str, object],
    duration_s: float,
    backend: str | None = None,
    now: dt.datetime | None = None,
) -> RunStatus | None:
    """Write a pre-check's verdict: graded (passed) or error with error_kind submission (the file is
    unusable). Never a score and never result rows: a pre-check is advice, only full runs make
    marks (``complete_run``'s report, rows and events belong to them). None when the lease is no
    longer held. Failures of ours go to ``fail_run`` like any run's."""
    now = now or db_now(session)
    text = "\n".join(messages)
    result = session.execute(
        update(GradingRun)
        .where(_held(lease))
        .values(
            status=RunStatus.graded if passed else RunStatus.error,
            finished_at=now,
            lease_expires_at=None,
            duration_s=duration_s,
            score=None,
            error=None if passed else text,
            error_kind=None if passed else "submission",
            details=dict(details),
            backend=backend,
            log=_tail(text),
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        session.rollback()
        return None
    session.commit()
    return RunStatus.graded if passed else RunStatus.error


def sweep_expired_leases(
    *,
    session: Session,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    now: dt.datetime | None = None,
    public_url: str | None = None,
) -> list[int]:
    """Put back every running run whose lease has run out (its worker vanished or hung).

    A vanished worker counts as a failed attempt, so a submission that kills its worker every
    time ends as an error instead of looping; a full run given up on that way sends its
    ``submission.grading_failed`` event, in the same transaction (``public_url``: where its link
    points). Returns the ids put back in the queue: wake a worker for each (the broker may have
    lost the original wake-up).
    """
    now = now or db_now(session)
    expired = and_(GradingRun.status == RunStatus.running, GradingRun.lease_expires_at < now)
    # A heartbeat that commits first moves the lease, and the row no longer matches.
    given_up = (
        session.execute(
            update(GradingRun)
            .where(expired, GradingRun.attempt >= max_attempts)
            .values(error="the worker stopped renewing its lease", error_kind="infrastructure", **_give_up_values(now))
            .returning(GradingRun.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    for run_id in sorted(given_up):  # pre-checks send nothing (``run_event_type``)
        emit_run_event(session=session, run_id=run_id, now=now, public_url=public_url)
    requeued = (
        session.execute(
            update(GradingRun)
            .where(expired)
            .values(error="the worker stopped renewing its lease", error_kind="infrastructure", **_requeue_values())
            .returning(GradingRun.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    session.commit()
    return sorted(requeued)


def get_run(*, session: Session, run_id: int) -> GradingRun | None:
    """A run as the database has it now (the functions above change rows behind the ORM's back)."""
    return session.get(GradingRun, run_id, populate_existing=True)


def latest_graded_run(*, session: Session, submission_id: uuid.UUID, kind: RunKind = RunKind.full) -> GradingRun | None:
    """The run whose results stand for a submission: its most recently finished graded run (a regrade
    preview's staged runs stand for nothing until the preview is applied)."""
    return session.scalars(
        select(GradingRun)
        .where(
            GradingRun.submission_id == submission_id,
            GradingRun.kind == kind,
            GradingRun.status == RunStatus.graded,
            NOT_STAGED,
        )
        .order_by(GradingRun.finished_at.desc(), GradingRun.id.desc())
        .limit(1)
    ).first()


def oldest_queued_at(*, session: Session) -> dt.datetime | None:
    """When the longest-waiting queued run was enqueued (for the oldest-waiting metric)."""
    return session.scalars(
        select(GradingRun.enqueued_at)
        .where(GradingRun.status == RunStatus.queued)
        .order_by(GradingRun.enqueued_at)
        .limit(1)
    ).first()


def _claim(
    session: Session, which: ColumnElement[bool], worker_id: str, lease_s: float, now: dt.datetime | None
) -> Lease | None:
    now = now or db_now(session)
    expires = now + dt.timedelta(seconds=lease_s)
    row = session.execute(
        update(GradingRun)
        # The status guard makes the claim safe whatever the dialect: only one UPDATE can flip
        # a queued row to running.
        .where(which, GradingRun.status == RunStatus.queued)
        .values(
            status=RunStatus.running,
            worker_id=worker_id,
            lease_expires_at=expires,
            heartbeat_at=now,
            started_at=now,
            finished_at=None,
        )
        .returning(GradingRun.id, GradingRun.submission_id, GradingRun.kind, GradingRun.attempt)
        .execution_options(synchronize_session=False)
    ).first()
    session.commit()
    if row is None:
        return None
    return Lease(row.id, row.submission_id, RunKind(row.kind), worker_id, row.attempt, expires)


def raise_priority(*, session: Session, run: GradingRun, raised_by_id: int, now: dt.datetime | None = None) -> bool:
    """A lecturer's "grade this first" on a queued run (``RAISED`` beats the round-robin). False
    when it is no longer queued (nothing written)."""
    result = session.execute(
        update(GradingRun)
        .where(GradingRun.id == run.id, GradingRun.status == RunStatus.queued)
        .values(priority=RAISED, requested_by_id=raised_by_id)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        session.rollback()
        return False
    record_event(
        session=session,
        actor_id=raised_by_id,
        action="run.raise_priority",
        subject_type="submission",
        subject_id=run.submission_id,
        at=now or db_now(session),
        details={"run_id": run.id},
    )
    session.commit()
    return True


def _revive_superseded(
    session: Session, submission_id: uuid.UUID, kind: RunKind, requested_by_id: int | None, priority: int | None
) -> GradingRun | None:
    """The submission's latest superseded run of this kind, queued again; None when it has none."""
    run = session.scalars(
        select(GradingRun)
        .where(
            GradingRun.submission_id == submission_id,
            GradingRun.kind == kind,
            GradingRun.status == RunStatus.superseded,
            NOT_STAGED,
        )
        .order_by(GradingRun.id.desc())
        .limit(1)
    ).first()
    if run is None:
        return None
    # Its wait from its first queueing is no estimate's to learn from: the estimate is dropped.
    values: dict[str, object] = dict(
        status=RunStatus.queued, superseded_by_id=None, requested_by_id=requested_by_id, claim_estimate_s=None
    )
    if priority is not None:
        values["priority"] = priority
    try:
        with session.begin_nested():
            result = session.execute(
                update(GradingRun)
                .where(GradingRun.id == run.id, GradingRun.status == RunStatus.superseded)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
    except IntegrityError:  # a live run appeared meanwhile (the unique index): that one stands
        return _live_run(session, submission_id, kind)
    session.commit()
    if rowcount(result) != 1:
        return _live_run(session, submission_id, kind)
    return get_run(session=session, run_id=run.id)


def _default_priority(session: Session, submission_id: uuid.UUID, kind: RunKind) -> int:
    """As enqueued: decided here, so every path that queues a run (upload, regrade, the sweeper) puts
    a tutorial's full run behind assessed work."""
    if kind is not RunKind.full:
        return PRIORITY[kind]
    weight = session.scalars(
        select(Coursework.weight)
        .join(Submission, Submission.coursework_id == Coursework.id)
        .where(Submission.id == submission_id)
    ).first()
    return full_run_priority(unassessed=weight == 0)


def _live_run(session: Session, submission_id: uuid.UUID, kind: RunKind) -> GradingRun | None:
    return session.scalars(
        select(GradingRun).where(
            GradingRun.submission_id == submission_id,
            GradingRun.kind == kind,
            GradingRun.status.in_(LIVE_STATUSES),
            NOT_STAGED,
        )
    ).first()


def _held(lease: Lease) -> ColumnElement[bool]:
    """The run is still running under this very lease (same worker, same attempt)."""
    return and_(
        GradingRun.id == lease.run_id,
        GradingRun.status == RunStatus.running,
        GradingRun.worker_id == lease.worker_id,
        GradingRun.attempt == lease.attempt,
    )


def _requeue_values() -> dict[str, object]:
    return dict(
        status=RunStatus.queued,
        attempt=GradingRun.attempt + 1,
        worker_id=None,
        lease_expires_at=None,
        heartbeat_at=None,
    )


def _give_up_values(now: dt.datetime) -> dict[str, object]:
    return dict(status=RunStatus.error, finished_at=now, lease_expires_at=None)


def _tail(log: str) -> str:
    if len(log) <= MAX_LOG_CHARS:
        return log
    return "[... earlier output cut ...]\n" + log[-MAX_LOG_CHARS:]


def _artifact_rows(run_id: int, report: GradeReport, keys: Mapping[str, str]) -> list[RunArtifact]:
    if report.status != "graded":
        return []
    missing = [a.name for a in report.artifacts if a.name not in keys]
    if missing:  # a caller bug: the rows would point at nothing
        raise ValueError(f"artifacts not stored: {', '.join(missing)}")
    return [
        RunArtifact(
            run_id=run_id,
            name=a.name,
            position=n,
            title=a.title,
            media_type=a.media_type,
            blob_key=keys[a.name],
            sha256=a.sha256,
            size_bytes=a.size_bytes,
            item_id=a.item_id,
        )
        for n, a in enumerate(report.artifacts)
    ]


def _result_rows(
    run_id: int, report: GradeReport, tests: Mapping[str, TestResult]
) -> list[RunTestResult | RunItemScore | RunPenalty]:
    rows: list[RunTestResult | RunItemScore | RunPenalty] = [
        RunTestResult(
            run_id=run_id,
            test_id=node,
            outcome=t.outcome.value,
            fraction=t.fraction,
            message=t.message,
            duration_s=t.duration_s,
        )
        for node, t in sorted(tests.items())
    ]
    if report.status == "graded" and report.marks is not None:
        rows += [
            RunItemScore(
                run_id=run_id,
                item_id=i.id,
                position=n,
                part=i.part,
                kind=i.kind,
                status=i.status.value,
                score=i.score,
                max_score=i.max_score,
                message=i.message,
                visibility=i.visibility,
            )
            for n, i in enumerate(report.marks.items)
        ]
        rows += [
            RunPenalty(
                run_id=run_id,
                penalty_id=p.id,
                position=n,
                points=p.points,
                applied=p.applied,
                message=p.message,
                visibility=p.visibility,
            )
            for n, p in enumerate(report.marks.penalties)
        ]
    return rows
