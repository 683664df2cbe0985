"""The worker's tasks: grade one run (by id), and sweep what a vanished worker or broker lost.

``grader.grade_run(run_id)`` claims the run in the gradebook with a lease, renews the lease by a
heartbeat thread every ``lease_s / 3``, fetches the submission through the blob store into a
job-local file, grades it, and writes the report in one transaction keyed by the run. A wake-up for
a run that is done or held by another worker does nothing (a duplicate delivery, a Redis
redelivery after the visibility timeout, the sweeper's re-wake): it takes the next queued run of
its queue instead, if there is one, so a spare wake-up is never wasted. A worker whose lease was
taken away (swept) writes nothing: the gradebook refuses a stale lease.

Student failures are a verdict (``complete_run``). Failures of ours go to ``fail_run`` (back to the
queue, up to ``max_attempts``) and a new wake-up with an exponential countdown.

``grader.sweep`` (also run by a thread in every ``grader worker``) puts back runs whose lease ran
out and re-wakes queued runs that have waited too long (their wake-up was lost: the filesystem
transport drops a message once fetched, and the Redis here keeps nothing on disk).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from grader.blobs import BlobError, BlobStore, LocalBlobStore, fetch
from grader.courseworks.models import Coursework
from grader.db.clock import db_now
from grader.db.engine import make_engine, session_factory
from grader.grading.pipeline import grade_submission
from grader.grading.precheck import PrecheckReport, run_precheck
from grader.grading.report import GradeReport
from grader.notebooks.marker_page import marker_page
from grader.notebooks.reading import NotebookUnreadable
from grader.notebooks.render import RenderError
from grader.rubrics.loader import RubricError, load_coursework
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.runs.service import Lease, claim_next_run, claim_run, complete_run, enqueue_run, fail_run, renew_lease
from grader.runs.service import complete_precheck, sweep_expired_leases
from grader.settings import Settings, get_settings
from grader.submissions.models import Submission
from grader.webhooks.runner import kick_sender
from workers.celery_app import app

log = logging.getLogger(__name__)

RETRY_BASE_S = 10  # first retry after an infrastructure failure; doubles per attempt
RETRY_MAX_S = 600
STALE_QUEUED_SWEEPS = 3  # a queued run untouched for this many sweep intervals lost its wake-up
REWAKE_LIMIT = 500  # at most this many stale runs re-woken per sweep


# -- plumbing -------------------------------------------------------------------------------------

_engines: dict[tuple[int, str], Engine] = {}
_engines_lock = threading.Lock()


def sessions_for(settings: Settings) -> sessionmaker[Session]:
    """Sessions on the gradebook; one engine per process (a forked pool child makes its own)."""
    key = (os.getpid(), settings.database_url)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = make_engine(settings.database_url)
    return session_factory(engine)


def blob_store(settings: Settings) -> BlobStore:
    """The worker's only way to a submission's bytes. A directory now (its own, or a shared volume);
    a remote worker plugs another ``BlobStore`` in here, nothing else changes."""
    return LocalBlobStore(settings.blob_dir)


def retry_countdown_s(attempt: int) -> int:
    return min(RETRY_MAX_S, RETRY_BASE_S * 2 ** max(0, attempt - 1))


def celery_queue(kind: RunKind | str, queue: str) -> str:
    """The broker queue that wakes a run: pre-checks go ahead of full grading."""
    return "precheck" if RunKind(kind) == RunKind.precheck else queue


def wake(run_id: int, queue: str, countdown: float | None = None) -> None:
    grade_run.apply_async((run_id,), queue=queue, countdown=countdown)


# -- the heartbeat --------------------------------------------------------------------------------


class Heartbeat(threading.Thread):
    """Renews a lease every ``lease_s / 3`` until stopped. ``lost`` is set when the gradebook
    refuses the lease (it was swept): the job's result must not be written."""

    def __init__(self, sessions: sessionmaker[Session], lease: Lease, lease_s: float):
        super().__init__(name=f"heartbeat-run-{lease.run_id}", daemon=True)
        self.sessions, self.lease, self.lease_s = sessions, lease, lease_s
        self.lost = threading.Event()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.lease_s / 3):
            try:
                with self.sessions() as session:
                    renewed = renew_lease(session=session, lease=self.lease, lease_s=self.lease_s)
            except Exception:  # the database is away: try again; the lease decides, not this thread
                log.warning("run %s: heartbeat failed, retrying", self.lease.run_id, exc_info=True)
                continue
            if renewed is None:
                log.error("run %s: lease lost (swept); its result will not be written", self.lease.run_id)
                self.lost.set()
                return
            self.lease = renewed

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)


# -- grading one run ------------------------------------------------------------------------------


@dataclass
class Outcome:
    run_id: int | None
    status: str  # graded | error | queued (retry) | lost | idle


def grade_one(
    run_id: int,
    *,
    settings: Settings,
    queue: str | None = None,
    store: BlobStore | None = None,
    wake_fn: Callable[[int, str, float | None], None] = wake,
) -> Outcome:
    """Claim and grade one run. Safe to call any number of times for the same id."""
    sessions = sessions_for(settings)
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    with sessions() as session:
        lease = claim_run(session=session, run_id=run_id, worker_id=worker_id, lease_s=settings.lease_s)
        if lease is None and queue in ("cpu", "gpu"):
            # This wake-up's run is done or held: a spare wake-up grades the next waiting run.
            lease = claim_next_run(session=session, worker_id=worker_id, queues=[queue],
                                   lease_s=settings.lease_s)
    if lease is None:
        log.info("run %s: not claimable (done or held by another worker); nothing to do", run_id)
        return Outcome(None, "idle")
    log.info("run %s: claimed by %s (attempt %s)", lease.run_id, worker_id, lease.attempt)
    heartbeat = Heartbeat(sessions, lease, settings.lease_s)
    heartbeat.start()
    try:
        status, run_queue = _grade_leased(lease, heartbeat, settings, sessions, store or blob_store(settings))
    finally:
        heartbeat.stop()
    if status in (RunStatus.graded, RunStatus.error):
        _kick_webhooks(settings)  # the course system hears within seconds, not at the next sweep
    if status == RunStatus.queued:  # an infrastructure failure, attempts left: wake again later
        countdown = retry_countdown_s(lease.attempt)
        log.warning("run %s: infrastructure failure, retrying in %ss", lease.run_id, countdown)
        try:
            wake_fn(lease.run_id, celery_queue(lease.kind, run_queue), countdown)
        except Exception:
            log.exception("run %s: could not wake a retry (the sweeper will)", lease.run_id)
    return Outcome(lease.run_id, status.value if status else "lost")


def _grade_leased(
    lease: Lease, heartbeat: Heartbeat, settings: Settings, sessions: sessionmaker[Session], store: BlobStore
) -> tuple[RunStatus | None, str]:
    with sessions() as session:
        run = session.get(GradingRun, lease.run_id)
        submission = session.get(Submission, lease.submission_id)
        coursework = session.get(Coursework, submission.coursework_id) if submission else None
        run_queue = run.queue if run else "cpu"
        if submission is None or coursework is None:
            return _fail(sessions, heartbeat, settings, "the run's submission or coursework is missing"), run_queue
        code, blob_key, filename = coursework.code, submission.blob_key, submission.original_filename

    workdir = Path(tempfile.mkdtemp(prefix=f"grader-run{lease.run_id}-"))
    try:
        try:
            cw = load_coursework(code, settings)
            path = workdir / _local_name(filename)
            fetch(store, blob_key, path)  # checks the sha256 on the way
            if lease.kind == RunKind.precheck:  # files, notebook, models load: no student code runs
                check = run_precheck(path, cw, settings)
            else:
                report = grade_submission(path, cw, settings, artifacts_dir=workdir / "artifacts")
                artifact_keys = _store_artifacts(store, report)  # before workdir goes; a failure is retried
                rendered_key = _store_rendered_notebook(store, path, cw.rubric.submission.notebook, code, settings)
            environment, hidden = _environment_digest(settings), _hidden_digest(cw.hidden)
        except (RubricError, BlobError, OSError) as exc:
            return _fail(sessions, heartbeat, settings, f"{type(exc).__name__}: {exc}"), run_queue
        except Exception as exc:  # a bug of ours is not the student's fault either
            log.exception("run %s: grading raised", lease.run_id)
            return _fail(sessions, heartbeat, settings, f"{type(exc).__name__}: {exc}"), run_queue
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if lease.kind == RunKind.precheck:
        return _record_precheck(check, heartbeat, settings, sessions), run_queue
    if heartbeat.lost.is_set():
        return None, run_queue
    notebook_key = _store_executed_notebook(store, report)
    with sessions() as session:
        status = complete_run(
            session=session, lease=heartbeat.lease, report=report, tests=report.tests, log=_log(report),
            backend=settings.sandbox_backend, environment_digest=environment, hidden_digest=hidden,
            executed_notebook_key=notebook_key, rendered_notebook_key=rendered_key, artifact_keys=artifact_keys,
            max_attempts=settings.max_attempts,
        )
    log.info("run %s: %s (score %s)", lease.run_id, status, report.score if status else "-")
    return status, run_queue


def _kick_webhooks(settings: Settings) -> None:
    try:
        kick_sender(sessions_for(settings), settings)
    except Exception:  # the outbox keeps the event; the sweeper's kick sends it
        log.warning("could not start webhook delivery", exc_info=True)


def _record_precheck(
    check: PrecheckReport, heartbeat: Heartbeat, settings: Settings, sessions: sessionmaker[Session]
) -> RunStatus | None:
    """A pre-check's verdict (advice, never marks); a failure of ours is retried like any run's."""
    if check.infrastructure_error:
        return _fail(sessions, heartbeat, settings, check.infrastructure_error)
    if heartbeat.lost.is_set():
        return None
    with sessions() as session:
        status = complete_precheck(
            session=session, lease=heartbeat.lease, passed=check.passed, messages=check.messages,
            details={"precheck": check.to_json(), "sandbox": check.sandbox}, duration_s=check.duration_s,
            backend=settings.sandbox_backend if check.models else None,
        )
    log.info("run %s: pre-check %s in %.1fs", heartbeat.lease.run_id, "passed" if check.passed else "failed",
             check.duration_s)
    return status


def _local_name(filename: str) -> str:
    """The student's file name for the job-local copy (error messages quote it), if it is a plain one."""
    name = PurePath(filename).name
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\- ]{0,99}", name) or not name.endswith((".ipynb", ".zip")):
        return "submission.zip" if name.endswith(".zip") else "submission.ipynb"
    return name


def _fail(sessions: sessionmaker[Session], heartbeat: Heartbeat, settings: Settings, error: str) -> RunStatus | None:
    if heartbeat.lost.is_set():
        return None
    with sessions() as session:
        return fail_run(session=session, lease=heartbeat.lease, error=error, max_attempts=settings.max_attempts)


def _store_executed_notebook(store: BlobStore, report: GradeReport) -> str | None:
    if not report.executed_notebook:
        return None
    try:
        return store.put(io.BytesIO(report.executed_notebook)).sha256
    except Exception:  # the marks stand without it
        log.warning("could not store the executed notebook", exc_info=True)
        return None


def _store_rendered_notebook(store: BlobStore, path: Path, notebook_name: str, code: str,
                             settings: Settings) -> str | None:
    """The notebook as the student submitted it (their own outputs and plots, not the graded
    re-execution), rendered and sanitised once here so the marking page only streams a blob: the
    member intake graded, rendered in a child process within ``settings.render`` (one too slow or
    too big is a page saying so). Like the executed notebook, the marks stand without it."""
    try:
        page = marker_page(path, notebook_name=notebook_name, title=f"{code}: {notebook_name} as submitted",
                           limits=settings.render, max_bytes=settings.execution.max_notebook_mb * 2**20)
        return store.put(io.BytesIO(page)).sha256
    except (RenderError, NotebookUnreadable) as exc:
        log.info("the submitted notebook was not rendered: %s", exc)
    except Exception:
        log.warning("could not render or store the submitted notebook", exc_info=True)
    return None


def _store_artifacts(store: BlobStore, report: GradeReport) -> dict[str, str]:
    """Each PNG the hidden tests drew, into the blob store (name -> key). Unlike the executed
    notebook, a failure here is not shrugged off: markers mark from these, so the run is retried."""
    keys = {}
    for artifact in report.artifacts:
        if artifact.path is None:
            raise OSError(f"artifact {artifact.name!r} has no file to store")
        with artifact.path.open("rb") as f:
            stored = store.put(f)
        if stored.sha256 != artifact.sha256:
            raise OSError(f"artifact {artifact.name!r} changed on its way to the blob store")
        keys[artifact.name] = stored.sha256
    return keys


def _environment_digest(settings: Settings) -> str | None:
    """The runtime that graded; under docker, that runtime in that image (one sha256 of both ids)."""
    try:
        runtime = (settings.runtime_dir / "DIGEST").read_text().split()[0][:64]
    except (OSError, IndexError):
        return None
    if settings.sandbox_backend != "docker":
        return runtime
    from workers.sandbox.base import SandboxError
    from workers.sandbox.docker_client import image_id

    try:
        return hashlib.sha256(f"{runtime}\n{image_id(settings)}".encode()).hexdigest()
    except SandboxError:
        return None


def _hidden_digest(folder: Path) -> str | None:
    try:
        from grader.courseworks.sync import tree_digest

        return tree_digest(folder)
    except Exception:
        return None


def _log(report: GradeReport) -> str:
    lines = [f"{report.status} in {report.duration_s:.1f}s, seed {report.seed}"]
    if report.error:
        lines.append(f"error ({report.error_kind}): {report.error}")
    if report.protocol_violation:
        lines.append(f"protocol violation: {report.protocol_violation}")
    return "\n".join(lines)


# -- the sweeper ----------------------------------------------------------------------------------


class Sweeper:
    """Puts back runs whose lease ran out and re-wakes queued runs whose wake-up was lost.

    Stateless in the database; it only remembers (in memory) when it last re-woke a run, so a long
    backlog is not woken again at every sweep. Any number of sweepers may run: the sweep is one
    atomic UPDATE and a duplicate wake-up does nothing.
    """

    def __init__(self, settings: Settings, wake_fn: Callable[[int, str, float | None], None] = wake):
        self.settings, self.wake_fn = settings, wake_fn
        self.stale_after_s = STALE_QUEUED_SWEEPS * settings.sweep_interval_s
        self._woken: dict[int, float] = {}

    def sweep(self) -> dict[str, list[int]]:
        sessions = sessions_for(self.settings)
        with sessions() as session:
            unqueued = self._enqueue_forgotten(session)
            expired = sweep_expired_leases(session=session, max_attempts=self.settings.max_attempts)
            db_time = db_now(session)
            queued = session.execute(
                select(GradingRun.id, GradingRun.kind, GradingRun.queue, GradingRun.enqueued_at,
                       GradingRun.started_at, GradingRun.attempt)
                .where(GradingRun.status == RunStatus.queued)
                .order_by(GradingRun.priority, GradingRun.enqueued_at, GradingRun.id)
                .limit(REWAKE_LIMIT + len(expired) + len(unqueued))
            ).all()
        now = time.monotonic()
        expired_set = set(expired) | set(unqueued)  # woken at once
        woken: dict[str, list[int]] = {"expired": [], "stale": [], "unqueued": unqueued}
        for row in queued:
            is_expired = row.id in expired_set
            if not is_expired:
                if (db_time - self._waiting_since(row)).total_seconds() < self._patience_s(row.attempt):
                    continue
                if now - self._woken.get(row.id, -1e18) < self.stale_after_s:
                    continue
            try:
                self.wake_fn(row.id, celery_queue(row.kind, row.queue), None)
            except Exception:
                log.warning("sweeper: could not wake run %s (next sweep will)", row.id, exc_info=True)
                continue
            self._woken[row.id] = now
            woken["expired" if is_expired else "stale"].append(row.id)
        live = {row.id for row in queued}
        self._woken = {k: v for k, v in self._woken.items() if k in live}
        if woken["expired"] or woken["stale"] or unqueued:
            log.info("sweeper: re-woke expired %s, stale %s; enqueued forgotten %s",
                     woken["expired"], woken["stale"], unqueued)
        return woken

    def _enqueue_forgotten(self, session: Session) -> list[int]:
        """Queue a full run for each submission that has none (the API committed the submission but
        failed to enqueue: the database went away in between). The next pass re-wakes them."""
        cutoff = db_now(session) - dt.timedelta(seconds=self.stale_after_s)
        has_run = select(GradingRun.id).where(GradingRun.submission_id == Submission.id,
                                              GradingRun.kind == RunKind.full).exists()
        rows = session.execute(
            select(Submission.id, Coursework.code).join(Coursework, Coursework.id == Submission.coursework_id)
            .where(~has_run, Submission.received_at < cutoff)
            .order_by(Submission.received_at).limit(REWAKE_LIMIT)
        ).all()
        enqueued = []
        for row in rows:
            try:
                queue = load_coursework(row.code, self.settings).rubric.resources.queue
            except RubricError:
                queue = "cpu"  # the run fails as an infrastructure error and says why
            enqueued.append(enqueue_run(session=session, submission_id=row.id, queue=queue).id)
        return enqueued

    @staticmethod
    def _waiting_since(row: Any) -> dt.datetime:
        # A retried run waits from its last claim (started_at), a new one from its enqueueing.
        return max(t for t in (row.enqueued_at, row.started_at) if t is not None)

    def _patience_s(self, attempt: int) -> float:
        """How long a queued run may wait before its wake-up counts as lost: a retry's wake-up
        carries a countdown (the backoff), which the sweeper must not cut short."""
        return self.stale_after_s + (retry_countdown_s(attempt - 1) if attempt > 1 else 0)


class SweeperThread(threading.Thread):
    def __init__(self, settings: Settings):
        super().__init__(name="grader-sweeper", daemon=True)
        self.sweeper = Sweeper(settings)
        self.interval = settings.sweep_interval_s
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.sweeper.sweep()
            except Exception:
                log.warning("sweeper: sweep failed (database or broker away?); next in %ss", self.interval,
                            exc_info=True)
            # Webhooks due for a retry (or whose first kick was lost) go out from their own thread.
            _kick_webhooks(self.sweeper.settings)

    def stop(self) -> None:
        self._stop_event.set()


# -- the Celery tasks -----------------------------------------------------------------------------


@app.task(name="grader.grade_run", bind=True, acks_late=True, ignore_result=True)
def grade_run(self, run_id: int) -> str:  # type: ignore[no-untyped-def]
    queue = (self.request.delivery_info or {}).get("routing_key")
    return grade_one(int(run_id), settings=get_settings(), queue=queue).status


@app.task(name="grader.sweep", acks_late=True, ignore_result=True)
def sweep() -> dict[str, list[int]]:
    return Sweeper(get_settings()).sweep()
