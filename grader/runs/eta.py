"""How long a queued run will wait: pure arithmetic on positions, claims, job durations and worker slots.

Two estimates of when a run is claimed, both divided by a rate:

- Measured (preferred): the queue's *drain rate*, runs claimed per second over the recent time in
  which runs waited, and its *claimed share*, the part of the runs that recently left the queue
  by a claim rather than by a supersede: in a deadline rush many runs ahead of a run are
  superseded by their students' next upload (the new run lands behind) and never cost a claim, so
  each run ahead counts as its chance of being claimed. The claim rate folds the pre-checks in.
- Modelled (too few recent claims to measure): a fluid model, the work ahead of the run (the jobs
  before it, whole; the jobs running now, half done on average; pre-checks waiting) shared by the
  slots of the live workers on its queue.

Neither sees the runs of less-served students that will cut in ahead under the round-robin, nor
how many of the runs ahead will be superseded rather than how many were. So each full run keeps the
wait to its claim estimated when it was queued, and the estimate is *calibrated*: multiplied by
the median of real over estimated waits of the queue's recently claimed runs. In
``bench/rush.py`` at 300 students the uncalibrated median shown/real was 1.58 in one run and
0.58 in another (with the share), as the mix of supersedes and cut-ins changed (see the README).

Either way the run's own job follows. It is an estimate to show a student, not a promise.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

RECENT_JOBS = 20  # the durations the typical job is taken from: recent enough to follow a slow kernel
RECENT_CLAIMS = 20  # the claims the drain rate and the calibration are taken from
MIN_CLAIMS = 3  # fewer recent claims measure nothing: the model stands in, uncalibrated
MIN_ESTIMATE_S = 1.0  # a shorter estimated wait is mostly noise: it calibrates nothing
CALIBRATION_BOUNDS = (0.25, 4.0)  # a run of odd waits cannot make the estimate absurd


@dataclass(frozen=True)
class QueueWait:
    """Where one queued run stands. ``position`` counts from 1 (next to be claimed); ``eta_s`` is the
    estimated seconds until its result, None when unknown (no job finished yet) or never (no worker)."""

    position: int
    eta_s: float | None
    live_slots: int
    claim_estimate_s: float | None = None  # to its claim, uncalibrated: what a run records when queued


def typical_job_s(durations_s: Sequence[float]) -> float | None:
    """The median of recent job durations (claim to result), None without any. The median, not the
    mean: one job stuck until its timeout should not stretch every estimate."""
    usable = [d for d in durations_s if d >= 0]
    return statistics.median(usable) if usable else None


def waiting_s(intervals: Sequence[tuple[float, float]], since: float, until: float) -> float:
    """Seconds within [``since``, ``until``] in which at least one run waited: the length of the union
    of the runs' (queued from, left at) intervals, clipped to the span."""
    total, covered_to = 0.0, since
    for start, end in sorted(intervals):
        start, end = max(start, covered_to), min(end, until)
        if end > start:  # the part not yet counted
            total += end - start
            covered_to = end
    return total


def drain_rate(
    claimed_at: Sequence[float], waited: Sequence[tuple[float, float]], *, now: float, min_waiting_s: float
) -> float | None:
    """Runs claimed per second while runs waited, or None when too little was seen to tell.

    ``claimed_at``: when the queue's recent runs were claimed (seconds, any epoch; the latest
    ``RECENT_CLAIMS`` are used); ``waited``: each run's (queued from, left at) on the queue, left by
    a claim or a supersede, ``now`` for one still waiting; ``min_waiting_s``: the least time of
    waiting worth measuring (a typical job: less is noise). The claims after the oldest one used,
    over the time since it in which runs waited: time with nothing waiting says nothing of the rate.
    """
    recent = sorted(t for t in claimed_at if t <= now)[-RECENT_CLAIMS:]
    if len(recent) < MIN_CLAIMS:
        return None
    busy = waiting_s(waited, recent[0], now)
    if busy <= 0 or busy < min_waiting_s:
        return None
    return (len(recent) - 1) / busy


def claimed_share(claimed: int, superseded: int) -> float:
    """Of the runs that recently left a queue, the share claimed (1.0 when none left): the chance
    that a run now waiting ahead of another is graded rather than superseded first."""
    if claimed < 0 or superseded < 0:
        raise ValueError("counts cannot be negative")
    left = claimed + superseded
    return claimed / left if left else 1.0


def calibration(waits: Sequence[tuple[float, float]]) -> float:
    """The factor estimated waits to a claim are off by lately: the median of real over estimated
    for the queue's recently claimed runs, from their (estimated when queued, real) seconds; 1.0
    when fewer than ``MIN_CLAIMS`` were estimated at ``MIN_ESTIMATE_S`` or more."""
    ratios = [real / estimated for estimated, real in waits if estimated >= MIN_ESTIMATE_S and real >= 0]
    if len(ratios) < MIN_CLAIMS:
        return 1.0
    low, high = CALIBRATION_BOUNDS
    return min(high, max(low, statistics.median(ratios)))


def wait_estimate_s(
    *,
    ahead: int,
    running: int,
    slots: int,
    job_s: float | None,
    other_work_s: float = 0.0,
    drain_per_s: float | None = None,
    claimed_share: float = 1.0,
    calibrated_by: float = 1.0,
) -> float | None:
    """Seconds until a queued run's result: ``claim_wait_s``, calibrated (``result_s``)."""
    to_claim = claim_wait_s(
        ahead=ahead,
        running=running,
        slots=slots,
        job_s=job_s,
        other_work_s=other_work_s,
        drain_per_s=drain_per_s,
        claimed_share=claimed_share,
    )
    return result_s(to_claim, job_s, calibrated_by)


def result_s(to_claim_s: float | None, job_s: float | None, calibrated_by: float = 1.0) -> float | None:
    """Seconds until a queued run's result: the wait to its claim times ``calibrated_by`` (the factor
    of ``calibration``), then its own job; None when either is unknown."""
    if calibrated_by <= 0:
        raise ValueError("the calibration is a positive factor")
    if to_claim_s is None or job_s is None:
        return None
    return to_claim_s * calibrated_by + job_s


def claim_wait_s(
    *,
    ahead: int,
    running: int,
    slots: int,
    job_s: float | None,
    other_work_s: float = 0.0,
    drain_per_s: float | None = None,
    claimed_share: float = 1.0,
) -> float | None:
    """Seconds until a queued run is claimed, uncalibrated (what a run records when it is queued).

    ``ahead``: queued runs claimed before it; ``running``: runs in progress on its queue; ``slots``:
    jobs the live workers on its queue grade at once; ``job_s``: a typical job's duration;
    ``other_work_s``: work the same workers take first (pre-checks waiting), for the model;
    ``drain_per_s``: the queue's measured drain rate (``drain_rate``), preferred to the model when
    known, with ``claimed_share`` (``claimed_share``) of the runs ahead to be claimed before it.
    None when no worker is live (it will not start) or no duration is known yet.
    """
    if slots <= 0 or job_s is None:
        return None
    if ahead < 0 or running < 0 or other_work_s < 0:
        raise ValueError("counts and work cannot be negative")
    if not 0 < claimed_share <= 1:
        raise ValueError("the claimed share is a fraction above zero")
    if ahead + running < slots and other_work_s == 0:
        return 0.0  # a slot is free: it starts now
    if drain_per_s is not None and drain_per_s > 0:
        # Claimed after the claims of the runs ahead that are not superseded first; the next claim is
        # half an interval away on average.
        return (ahead * claimed_share + 0.5) / drain_per_s
    return (running * job_s / 2 + ahead * job_s + other_work_s) / slots
