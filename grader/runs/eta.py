"""How long a queued run will wait: pure arithmetic on positions, job durations and worker slots.

The model is a fluid one: the work ahead of a run (the jobs before it in the claim order, whole;
the jobs running now, half done on average; anything else the same workers serve first, such as
pre-checks) shared by the slots of the live workers on its queue. It is an estimate to show a
student, not a promise: ``bench/rush.py`` measures it against the real waits.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

RECENT_JOBS = 20  # the durations the typical job is taken from: recent enough to follow a slow kernel


@dataclass(frozen=True)
class QueueWait:
    """Where one queued run stands. ``position`` counts from 1 (next to be claimed); ``eta_s`` is the
    estimated seconds until its result, None when unknown (no job finished yet) or never (no worker)."""

    position: int
    eta_s: float | None
    live_slots: int


def typical_job_s(durations_s: Sequence[float]) -> float | None:
    """The median of recent job durations (claim to result), None without any. The median, not the
    mean: one job stuck until its timeout should not stretch every estimate."""
    usable = [d for d in durations_s if d >= 0]
    return statistics.median(usable) if usable else None


def wait_estimate_s(
    *, ahead: int, running: int, slots: int, job_s: float | None, other_work_s: float = 0.0
) -> float | None:
    """Seconds until a queued run's result.

    ``ahead``: queued runs claimed before it; ``running``: runs in progress on its queue; ``slots``:
    jobs the live workers on its queue grade at once; ``job_s``: a typical job's duration;
    ``other_work_s``: work the same workers take first (pre-checks waiting). None when no worker is
    live (it will not start) or no duration is known yet.
    """
    if slots <= 0 or job_s is None:
        return None
    if ahead < 0 or running < 0 or other_work_s < 0:
        raise ValueError("counts and work cannot be negative")
    if ahead + running < slots and other_work_s == 0:
        return job_s  # a slot is free: it starts now
    start_s = (running * job_s / 2 + ahead * job_s + other_work_s) / slots
    return start_s + job_s
