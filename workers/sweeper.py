"""The sweeper: puts back what a vanished worker or broker lost.

It returns runs whose lease ran out to the queue, queues a run for a submission that has none (the
API committed it but failed to enqueue), and re-wakes queued runs that have waited too long (their
wake-up was lost: the filesystem transport drops a message once fetched, and the Redis here keeps
nothing on disk). ``grader worker`` runs it as a thread; ``celery beat`` deployments as the
``grader.sweep`` task.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework
from grader.db.clock import db_now
from grader.rubrics.loader import RubricError, load_coursework
from grader.runs.fallback import FallbackRule, fall_back, stranded_courseworks
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.runs.service import enqueue_run, sweep_expired_leases
from grader.settings import Settings
from grader.submissions.models import Submission
from workers.dispatch import Wake, broker_queue, retry_countdown_s
from workers.gradebook import kick_webhooks, sessions_for

log = logging.getLogger(__name__)

STALE_QUEUED_SWEEPS = 3  # a queued run untouched for this many sweep intervals lost its wake-up
REWAKE_LIMIT = 500  # at most this many stale runs re-woken per sweep


class Sweeper:
    """Puts back runs whose lease ran out and re-wakes queued runs whose wake-up was lost.

    Stateless in the database; it only remembers (in memory) when it last re-woke a run, so a long
    backlog is not woken again at every sweep. Any number of sweepers may run: the sweep is one
    atomic UPDATE and a duplicate wake-up does nothing.
    """

    def __init__(self, settings: Settings, wake_fn: Wake):
        self.settings, self.wake_fn = settings, wake_fn
        self.stale_after_s = STALE_QUEUED_SWEEPS * settings.sweep_interval_s
        self._woken: dict[int, float] = {}

    def sweep(self) -> dict[str, list[int]]:
        sessions = sessions_for(self.settings)
        fell_back = fall_back_stranded(self.settings, self.wake_fn)  # before the re-wake pass reads the queues
        with sessions() as session:
            unqueued = self._enqueue_forgotten(session)
            expired = sweep_expired_leases(
                session=session, max_attempts=self.settings.max_attempts, public_url=self.settings.public_url
            )
            db_time = db_now(session)
            queued = session.execute(
                select(
                    GradingRun.id,
                    GradingRun.kind,
                    GradingRun.queue,
                    GradingRun.enqueued_at,
                    GradingRun.started_at,
                    GradingRun.heartbeat_at,
                    GradingRun.attempt,
                )
                .where(GradingRun.status == RunStatus.queued)
                .order_by(GradingRun.priority, GradingRun.enqueued_at, GradingRun.id)
                .limit(REWAKE_LIMIT + len(expired) + len(unqueued))
            ).all()
        now = time.monotonic()
        expired_set = set(expired) | set(unqueued)  # woken at once
        woken: dict[str, list[int]] = {"expired": [], "stale": [], "unqueued": unqueued, "fallback": fell_back}
        for row in queued:
            is_expired = row.id in expired_set
            if not is_expired:
                if (db_time - self._waiting_since(row)).total_seconds() < self._patience_s(row.attempt):
                    continue
                if now - self._woken.get(row.id, -1e18) < self.stale_after_s:
                    continue
            try:
                self.wake_fn(row.id, broker_queue(row.kind, row.queue), None)
            except Exception:
                log.warning("sweeper: could not wake run %s (next sweep will)", row.id, exc_info=True)
                continue
            self._woken[row.id] = now
            woken["expired" if is_expired else "stale"].append(row.id)
        live = {row.id for row in queued}
        self._woken = {k: v for k, v in self._woken.items() if k in live}
        if woken["expired"] or woken["stale"] or unqueued:
            log.info(
                "sweeper: re-woke expired %s, stale %s; enqueued forgotten %s",
                woken["expired"],
                woken["stale"],
                unqueued,
            )
        return woken

    def _enqueue_forgotten(self, session: Session) -> list[int]:
        """Queue a full run for each submission that has none (the API committed the submission but
        failed to enqueue: the database went away in between). The next pass re-wakes them."""
        cutoff = db_now(session) - dt.timedelta(seconds=self.stale_after_s)
        has_run = (
            select(GradingRun.id)
            .where(GradingRun.submission_id == Submission.id, GradingRun.kind == RunKind.full)
            .exists()
        )
        rows = session.execute(
            select(Submission.id, Coursework.code)
            .join(Coursework, Coursework.id == Submission.coursework_id)
            .where(~has_run, Submission.received_at < cutoff)
            .order_by(Submission.received_at)
            .limit(REWAKE_LIMIT)
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
        # A new run waits from its enqueueing; a retried one from its failure (fail_run leaves it in
        # heartbeat_at), not from its claim: an attempt that ran a while must not shorten the backoff.
        return max(t for t in (row.enqueued_at, row.started_at, row.heartbeat_at) if t is not None)

    def _patience_s(self, attempt: int) -> float:
        """How long a queued run may wait before its wake-up counts as lost: a retry's wake-up
        carries a countdown (the backoff), which the sweeper must not cut short."""
        return self.stale_after_s + (retry_countdown_s(attempt - 1) if attempt > 1 else 0)


def fall_back_stranded(settings: Settings, wake_fn: Wake) -> list[int]:
    """Move the runs due for their rubric's fallback queue (``grader.runs.fallback``) and wake a
    worker of the new queue for each. Returns the ids moved. Rubrics are read only for courseworks
    whose runs wait on a queue with no live worker, so a healthy sweep reads none."""
    with sessions_for(settings)() as session:
        stranded = stranded_courseworks(session=session)
        if not stranded:
            return []
        codes = {
            cw_id: code
            for cw_id, code in session.execute(
                select(Coursework.id, Coursework.code).where(Coursework.id.in_(stranded))
            )
        }
        rules = []
        for coursework_id, queues in sorted(stranded.items()):
            try:
                res = load_coursework(codes[coursework_id], settings).rubric.resources
            except (RubricError, KeyError):
                continue  # a broken rubric cannot grade either; `grader rubric check` says why
            if res.fallback_queue is not None and res.fallback_after is not None and res.queue in queues:
                after = res.fallback_after if settings.fallback_after_s is None else settings.fallback_after_s
                rules.append(FallbackRule(coursework_id, res.queue, res.fallback_queue, after))
        moved = fall_back(session=session, rules=rules) if rules else []
    for run in moved:
        log.warning(
            "sweeper: run %s waited %.0fs on queue %s with no live worker; moved to its fallback queue %s",
            run.run_id,
            run.waited_s,
            run.from_queue,
            run.to_queue,
        )
        try:
            wake_fn(run.run_id, broker_queue(RunKind.full, run.to_queue), None)
        except Exception:  # the run is queued on its new queue: the re-wake pass wakes it later
            log.warning("sweeper: could not wake run %s on %s", run.run_id, run.to_queue, exc_info=True)
    return [run.run_id for run in moved]


FALLBACK_POLL_S = 1.0  # with a fallback wait of zero, how often stranded runs are looked for


class SweeperThread(threading.Thread):
    """A sweep every ``sweep_interval_s``, and a webhook kick after each. With ``fallback_after_s``
    0 (no wait before a run falls back), the fallback pass alone also runs every FALLBACK_POLL_S:
    a run no worker of its queue will ever take moves within a second, not at the next sweep."""

    def __init__(self, settings: Settings, wake_fn: Wake):
        super().__init__(name="grader-sweeper", daemon=True)
        self.sweeper = Sweeper(settings, wake_fn)
        self.interval = settings.sweep_interval_s
        self.poll = FALLBACK_POLL_S if settings.fallback_after_s == 0 else None
        self._stop_event = threading.Event()

    def run(self) -> None:
        next_sweep = time.monotonic() + self.interval
        while not self._stop_event.wait(
            max(0.0, min(next_sweep - time.monotonic(), self.poll if self.poll is not None else self.interval))
        ):
            if time.monotonic() < next_sweep:  # the fallback pass alone (see the class)
                try:
                    fall_back_stranded(self.sweeper.settings, self.sweeper.wake_fn)
                except Exception:
                    log.warning("sweeper: fallback pass failed; next in %ss", self.poll, exc_info=True)
                continue
            next_sweep = time.monotonic() + self.interval
            try:
                self.sweeper.sweep()
            except Exception:
                log.warning(
                    "sweeper: sweep failed (database or broker away?); next in %ss", self.interval, exc_info=True
                )
            # Webhooks due for a retry (or whose first kick was lost) go out from their own thread.
            kick_webhooks(self.sweeper.settings)

    def stop(self) -> None:
        self._stop_event.set()
