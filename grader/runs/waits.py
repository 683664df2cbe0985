"""Where queued runs stand: a run's position and ETA, each queue's length and live capacity.

Read from the gradebook (the claim order of ``grader.runs.fair_queue``, recent job durations, the
queue's recent claims and how long runs waited for them) and the worker registry; the arithmetic
is ``grader.runs.eta``'s. What a student may see of it is their own run's position, ETA and the
words of ``wait_text``: nothing about any other student.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from grader.db.clock import db_now
from grader.runs.eta import (
    MIN_CLAIMS,
    RECENT_CLAIMS,
    RECENT_JOBS,
    QueueWait,
    calibration,
    claim_wait_s,
    claimed_share,
    drain_rate,
    result_s,
    typical_job_s,
    wait_estimate_s,
)
from grader.runs.fair_queue import FAIR_WINDOW_S, queued_in_order
from grader.runs.models import NOT_STAGED, GradingRun, RunKind, RunStatus
from grader.runs.registry import LIVE_FOR_S, live_workers, slots_by_queue
from grader.submissions.models import Submission

PRECHECK_QUEUE = "precheck"
KNOWN_QUEUES = ("precheck", "cpu", "gpu")
WORKER_NAMES = {"gpu": "GPU", "cpu": "CPU", "precheck": "pre-check"}


@dataclass(frozen=True)
class QueueState:
    """One queue now: runs waiting and running, the live workers' slots, and the wait a run joining
    at the back would have (None: unknown, or no worker)."""

    queue: str
    queued: int
    running: int
    live_workers: int
    slots: int
    job_s: float | None
    wait_estimate_s: float | None

    @property
    def stranded(self) -> bool:
        """Work that no worker will ever take: runs waiting and no live worker on the queue."""
        return self.queued > 0 and self.slots == 0


def run_wait(
    *, session: Session, run: GradingRun, live_for_s: float = LIVE_FOR_S, now: dt.datetime | None = None
) -> QueueWait | None:
    """A queued run's position and ETA; None when it is not queued."""
    if run.status is not RunStatus.queued:
        return None
    now = now or db_now(session)
    order = [q.id for q in queued_in_order(session=session, queue=run.queue, now=now)]
    if run.id not in order:  # claimed between the caller's read and ours
        return None
    slots = slots_by_queue(live_workers(session=session, live_for_s=live_for_s, now=now)).get(run.queue, 0)
    coursework_id = session.scalar(select(Submission.coursework_id).where(Submission.id == run.submission_id))
    job_s = typical_job_s(_recent_durations(session, run.queue, coursework_id)) or typical_job_s(
        _recent_durations(session, run.queue, None)
    )
    position = order.index(run.id) + 1
    drain = _drain(session, run.queue, now, job_s)
    to_claim = claim_wait_s(
        ahead=position - 1,
        running=_running(session, run.queue),
        slots=slots,
        job_s=job_s,
        other_work_s=_precheck_work_s(session, run.queue),
        drain_per_s=drain.per_s,
        claimed_share=drain.claimed_share,
    )
    eta = result_s(to_claim, job_s, drain.calibrated_by)
    return QueueWait(position=position, eta_s=eta, live_slots=slots, claim_estimate_s=to_claim)


def queue_states(
    *, session: Session, live_for_s: float = LIVE_FOR_S, now: dt.datetime | None = None
) -> list[QueueState]:
    """Every known queue, and any other that holds runs, by name."""
    now = now or db_now(session)
    slots = slots_by_queue(workers := live_workers(session=session, live_for_s=live_for_s, now=now))
    counts: dict[tuple[str, RunStatus], int] = {
        (q, RunStatus(s)): n
        for q, s, n in session.execute(
            select(GradingRun.queue, GradingRun.status, func.count())
            .where(GradingRun.status.in_((RunStatus.queued, RunStatus.running)))
            .group_by(GradingRun.queue, GradingRun.status)
        ).all()
    }
    names = sorted(set(KNOWN_QUEUES) | {q for q, _ in counts})
    states = []
    for q in names:
        queued, running = counts.get((q, RunStatus.queued), 0), counts.get((q, RunStatus.running), 0)
        job_s = typical_job_s(_recent_durations(session, q, None))
        drain = _drain(session, q, now, job_s)
        wait_s = wait_estimate_s(
            ahead=queued,
            running=running,
            slots=slots.get(q, 0),
            job_s=job_s,
            drain_per_s=drain.per_s,
            claimed_share=drain.claimed_share,
            calibrated_by=drain.calibrated_by,
        )
        states.append(
            QueueState(
                queue=q,
                queued=queued,
                running=running,
                live_workers=sum(1 for w in workers if q in w.queues),
                slots=slots.get(q, 0),
                job_s=job_s,
                wait_estimate_s=wait_s,
            )
        )
    return states


def wait_text(queue: str, wait: QueueWait | None, fallback_from: str | None = None) -> str:
    """What a student reads about their queued run; ``fallback_from``: the queue it left for this
    one when no worker served it (``grader.runs.fallback``)."""
    if wait is not None and wait.live_slots == 0:
        text = f"waiting for a {WORKER_NAMES.get(queue, queue)} worker"
    elif wait is None:
        text = "queued"
    else:
        place = f"queued: {_ordinal(wait.position)} in line"
        text = place if wait.eta_s is None else f"{place}, result in about {_duration(wait.eta_s)}"
    if fallback_from is None:
        return text
    gone = WORKER_NAMES.get(fallback_from, fallback_from)
    return f"no {gone} worker was available, so it moved to the {WORKER_NAMES.get(queue, queue)} workers; {text}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _recent_durations(session: Session, queue: str, coursework_id: int | None) -> Sequence[float]:
    """Claim-to-result seconds of the latest finished runs on ``queue`` (of one coursework if given)."""
    query = select(GradingRun.started_at, GradingRun.finished_at).where(
        GradingRun.queue == queue,
        GradingRun.status.in_((RunStatus.graded, RunStatus.error)),
        GradingRun.started_at.is_not(None),
        GradingRun.finished_at.is_not(None),
    )
    if coursework_id is not None:
        query = query.join(Submission, Submission.id == GradingRun.submission_id).where(
            Submission.coursework_id == coursework_id
        )
    rows = session.execute(query.order_by(GradingRun.finished_at.desc()).limit(RECENT_JOBS)).all()
    return [(r.finished_at - r.started_at).total_seconds() for r in rows]


@dataclass(frozen=True)
class Drain:
    """How a queue drained lately (``grader.runs.eta``): claims per second while runs waited (None:
    too little seen), the share of the runs leaving it that were claimed, not superseded, and the
    factor its recently claimed runs' real waits were off from their estimates by."""

    per_s: float | None = None
    claimed_share: float = 1.0
    calibrated_by: float = 1.0


def _drain(session: Session, queue: str, now: dt.datetime, job_s: float | None) -> Drain:
    """The queue's recent drain (``grader.runs.eta``'s ``drain_rate``, ``claimed_share`` and
    ``calibration``): from its latest claims within the fair window (and the waits estimated for
    those runs when they were queued), and when each run waited on it since the oldest of them,
    left by a claim or a supersede (the superseding upload's arrival)."""
    if job_s is None:
        return Drain()
    recent = session.execute(
        select(GradingRun.started_at, GradingRun.enqueued_at, GradingRun.claim_estimate_s)
        .where(
            GradingRun.queue == queue,
            GradingRun.started_at.is_not(None),
            GradingRun.started_at <= now,
            GradingRun.started_at >= now - dt.timedelta(seconds=FAIR_WINDOW_S),
        )
        .order_by(GradingRun.started_at.desc())
        .limit(RECENT_CLAIMS)
    ).all()
    if len(recent) < MIN_CLAIMS:
        return Drain()
    claimed = [r.started_at for r in recent]
    calibrated_by = calibration(
        [
            (r.claim_estimate_s, (r.started_at - r.enqueued_at).total_seconds())
            for r in recent
            if r.claim_estimate_s is not None
        ]
    )
    since = min(claimed)
    superseding = aliased(Submission)
    rows = session.execute(
        select(GradingRun.status, GradingRun.enqueued_at, GradingRun.started_at, superseding.received_at)
        .outerjoin(superseding, superseding.id == GradingRun.superseded_by_id)
        .where(
            GradingRun.queue == queue,
            GradingRun.enqueued_at <= now,
            or_(
                GradingRun.status == RunStatus.queued,
                GradingRun.started_at >= since,
                superseding.received_at >= since,
            ),
        )
    ).all()
    waited: list[tuple[float, float]] = []
    superseded = 0
    for status, enqueued_at, started_at, superseded_at in rows:
        # A run left the queue when claimed (its latest attempt) or superseded; one queued waits still.
        left = {RunStatus.queued: now, RunStatus.superseded: superseded_at}.get(status, started_at)
        if left is not None:
            waited.append((enqueued_at.timestamp(), left.timestamp()))
        if status is RunStatus.superseded and superseded_at is not None and since <= superseded_at <= now:
            superseded += 1
    rate = drain_rate([t.timestamp() for t in claimed], waited, now=now.timestamp(), min_waiting_s=job_s)
    if rate is None:
        return Drain(calibrated_by=calibrated_by)
    return Drain(rate, claimed_share(len(claimed), superseded), calibrated_by)


def _running(session: Session, queue: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(GradingRun)
            .where(GradingRun.queue == queue, GradingRun.status == RunStatus.running)
        )
        or 0
    )


def _precheck_work_s(session: Session, queue: str) -> float:
    """The pre-checks waiting (workers take them first), in seconds of work; none for the pre-check queue."""
    if queue == PRECHECK_QUEUE:
        return 0.0
    waiting = (
        session.scalar(
            select(func.count())
            .select_from(GradingRun)
            .where(GradingRun.kind == RunKind.precheck, GradingRun.status == RunStatus.queued)
        )
        or 0
    )
    return waiting * (typical_job_s(_recent_durations(session, PRECHECK_QUEUE, None)) or 0.0)


@dataclass(frozen=True)
class WaitingRun:
    """A coursework's full run that waits (queued: with its place) or was superseded, for lecturers."""

    run: GradingRun
    submission: Submission
    position: int | None  # in its queue's claim order; None when superseded


def coursework_waiting_runs(
    *, session: Session, coursework_id: int, now: dt.datetime | None = None, limit: int = 200
) -> list[WaitingRun]:
    """The coursework's queued full runs in claim order, then its superseded ones, newest first."""
    now = now or db_now(session)
    rows = session.execute(
        select(GradingRun, Submission)
        .join(Submission, Submission.id == GradingRun.submission_id)
        .where(
            Submission.coursework_id == coursework_id,
            GradingRun.kind == RunKind.full,
            GradingRun.status.in_((RunStatus.queued, RunStatus.superseded)),
            NOT_STAGED,  # a regrade preview's runs: its own page shows them
        )
        .order_by(GradingRun.enqueued_at.desc())
        .limit(limit)
    ).all()
    positions: dict[int, int] = {}
    for queue in sorted({run.queue for run, _ in rows if run.status is RunStatus.queued}):
        order = queued_in_order(session=session, queue=queue, now=now)
        positions.update({q.id: n for n, q in enumerate(order, start=1)})
    waiting = [WaitingRun(run, sub, positions.get(run.id)) for run, sub in rows]
    return sorted(waiting, key=lambda w: (w.position is None, w.position or 0))
