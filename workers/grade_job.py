"""Grading one run, by id: claim it, grade it, write the result, wake a retry if ours failed.

``grade_one`` claims the run in the gradebook with a lease, renews the lease by a heartbeat thread
every ``lease_s / 3``, fetches the submission through the blob store into a job-local file, grades
it, and writes the report in one transaction keyed by the run. A wake-up for a run that is done or
held by another worker does nothing (a duplicate delivery, a Redis redelivery after the visibility
timeout, the sweeper's re-wake): it takes the next queued run of its queue instead, if there is
one, so a spare wake-up is never wasted. A worker whose lease was taken away (swept) writes
nothing: the gradebook refuses a stale lease.

Student failures are a verdict (``complete_run``). Failures of ours go to ``fail_run`` (back to the
queue, up to ``max_attempts``) and a new wake-up with an exponential countdown.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import re
import shutil
import socket
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePath

from sqlalchemy.orm import Session, sessionmaker

from grader.blobs import BlobError, BlobStore, fetch
from grader.courseworks.models import Coursework
from grader.grading.model_verdicts import GradebookVerdicts
from grader.grading.pipeline import grade_submission
from grader.grading.precheck import PrecheckReport, run_precheck
from grader.grading.report import GradeReport
from grader.grading.worker_side import JudgeLauncher
from grader.processes.forkserver import shared_server
from grader.rubrics.loader import RubricError, load_coursework
from grader.runs.fallback import fallback_note, rubric_on_queue
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.runs.service import Lease, claim_next_run, claim_run, complete_precheck, complete_run, fail_run
from grader.settings import Settings
from grader.submissions.models import Submission
from workers.dispatch import Wake, broker_queue, retry_countdown_s
from workers.gradebook import blob_store, kick_webhooks, sessions_for
from workers.heartbeat import Heartbeat
from workers.judge.launcher import JUDGE, SubprocessJudge
from workers.judge.warm_pool import WarmJudges
from workers.precheck_sandbox import SandboxModelInspector, loader_version
from workers.run_outputs import (
    environment_digest,
    hidden_digest,
    rubric_digest,
    store_artifacts,
    store_executed_notebook,
    store_rendered_notebook,
)

log = logging.getLogger(__name__)


# This process's pools, one per settings object (a worker has one); the object is kept with its
# pool, so its id is never reused for another.
_warm: dict[int, tuple[Settings, WarmJudges]] = {}


def judge_launcher(settings: Settings) -> JudgeLauncher:
    """The worker's judges: warm ones kept for this process (``settings.warm_judges``), else cold ones,
    forked from this process's judge fork server (``settings.fork_servers``)."""
    if settings.warm_judges <= 0:
        return SubprocessJudge(shared_server(JUDGE) if settings.fork_servers else None)
    if id(settings) not in _warm:
        pool = WarmJudges(settings)
        _warm[id(settings)] = (settings, pool)
        atexit.register(pool.close)
    return _warm[id(settings)][1]


@dataclass
class Outcome:
    run_id: int | None
    status: str  # graded | error | queued (retry) | lost | idle


def grade_one(
    run_id: int,
    *,
    settings: Settings,
    queue: str | None = None,
    wake_fn: Wake,
    store: BlobStore | None = None,
) -> Outcome:
    """Claim and grade one run. Safe to call any number of times for the same id. ``wake_fn`` wakes
    the retry of a run that failed for a reason of ours."""
    sessions = sessions_for(settings)
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    with sessions() as session:
        lease = None
        grading_queue = queue if queue in ("cpu", "gpu") else None  # a pre-check's wake-up claims its own run
        if grading_queue and settings.fair_queue:
            # A wake-up is a turn, not a ticket: it grades the next run in the fair order (round-robin
            # by student, grader.runs.fair_queue), whichever run it named.
            lease = claim_next_run(
                session=session, worker_id=worker_id, queues=[grading_queue], lease_s=settings.lease_s
            )
        if lease is None:
            lease = claim_run(session=session, run_id=run_id, worker_id=worker_id, lease_s=settings.lease_s)
        if lease is None and grading_queue and not settings.fair_queue:
            # This wake-up's run is done or held: a spare wake-up grades the next waiting run.
            lease = claim_next_run(
                session=session, worker_id=worker_id, queues=[grading_queue], lease_s=settings.lease_s, fair=False
            )
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
        kick_webhooks(settings)  # the course system hears within seconds, not at the next sweep
    if status == RunStatus.queued:  # an infrastructure failure, attempts left: wake again later
        countdown = retry_countdown_s(lease.attempt)
        log.warning("run %s: infrastructure failure, retrying in %ss", lease.run_id, countdown)
        try:
            wake_fn(lease.run_id, broker_queue(lease.kind, run_queue), countdown)
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
        note = fallback_note(run) if run is not None else None  # for markers, in the run's log
        fell_back = note is not None
        if submission is None or coursework is None:
            return _fail(sessions, heartbeat, settings, "the run's submission or coursework is missing"), run_queue
        code, blob_key, filename = coursework.code, submission.blob_key, submission.original_filename

    workdir = Path(tempfile.mkdtemp(prefix=f"grader-run{lease.run_id}-"))
    try:
        try:
            cw = load_coursework(code, settings)
            if fell_back:  # moved off a queue no worker served: graded as a job of this queue
                cw = dataclasses.replace(cw, rubric=rubric_on_queue(cw.rubric, run_queue))
            path = workdir / _local_name(filename)
            fetch(store, blob_key, path)  # checks the sha256 on the way
            if lease.kind == RunKind.precheck:  # files, notebook, models load: no student code runs
                check = run_precheck(
                    path, cw, settings, inspector=SandboxModelInspector(), verdicts=_verdicts(settings, sessions)
                )
            else:
                report = grade_submission(
                    path, cw, settings, judge=judge_launcher(settings), artifacts_dir=workdir / "artifacts"
                )
                artifact_keys = store_artifacts(store, report)  # before workdir goes; a failure is retried
                rendered_key = store_rendered_notebook(
                    store,
                    path,
                    cw.rubric.submission.notebook,
                    code,
                    settings,
                    snapshot=cw.rubric.submission.allow_extra_files,
                )
            environment, hidden = environment_digest(settings), hidden_digest(cw.hidden)
            rubric_file = rubric_digest(cw.folder)
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
    notebook_key = store_executed_notebook(store, report)
    with sessions() as session:
        status = complete_run(
            session=session,
            lease=heartbeat.lease,
            report=report,
            tests=report.tests,
            log=_log(report, note),
            backend=settings.sandbox_backend,
            environment_digest=environment,
            hidden_digest=hidden,
            rubric_digest=rubric_file,
            executed_notebook_key=notebook_key,
            rendered_notebook_key=rendered_key,
            artifact_keys=artifact_keys,
            max_attempts=settings.max_attempts,
            public_url=settings.public_url,
        )
    log.info("run %s: %s (score %s)", lease.run_id, status, report.score if status else "-")
    return status, run_queue


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
            session=session,
            lease=heartbeat.lease,
            passed=check.passed,
            messages=check.messages,
            details={"precheck": check.to_json(), "sandbox": check.sandbox},
            duration_s=check.duration_s,
            backend=settings.sandbox_backend if check.models else None,
        )
    log.info(
        "run %s: pre-check %s in %.1fs",
        heartbeat.lease.run_id,
        "passed" if check.passed else "failed",
        check.duration_s,
    )
    return status


def _verdicts(settings: Settings, sessions: sessionmaker[Session]) -> GradebookVerdicts | None:
    """The model-file verdicts the pre-check reuses by sha256 (none when the loader cannot be versioned)."""
    version = loader_version(settings)
    return GradebookVerdicts(sessions, version) if version else None


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
        return fail_run(
            session=session,
            lease=heartbeat.lease,
            error=error,
            max_attempts=settings.max_attempts,
            public_url=settings.public_url,
        )


def _log(report: GradeReport, note: str | None = None) -> str:
    lines = [f"{report.status} in {report.duration_s:.1f}s, seed {report.seed}"]
    if note:
        lines.append(f"note: {note}")
    if report.device:  # the marker sees which device graded it (a GPU, or the CPU after a fall back)
        lines.append(f"device: {report.device}")
    if report.error:
        lines.append(f"error ({report.error_kind}): {report.error}")
    if report.protocol_violation:
        lines.append(f"protocol violation: {report.protocol_violation}")
    return "\n".join(lines)
