"""The ETA arithmetic, as a pure function, and the sentence a student reads."""

from __future__ import annotations

import pytest

from grader.runs.eta import QueueWait, typical_job_s, wait_estimate_s
from grader.runs.waits import wait_text


def test_a_free_slot_means_the_result_in_one_job():
    assert wait_estimate_s(ahead=0, running=0, slots=2, job_s=10) == 10
    assert wait_estimate_s(ahead=1, running=0, slots=2, job_s=10) == 10  # the second slot is free


def test_work_ahead_is_shared_by_the_slots():
    # One slot, busy (half done on average), three ahead: 5 + 30 s before it starts, then its own 10.
    assert wait_estimate_s(ahead=3, running=1, slots=1, job_s=10) == pytest.approx(45)
    # Twice the slots, half the wait before it starts.
    assert wait_estimate_s(ahead=6, running=2, slots=2, job_s=10) == pytest.approx((10 + 60) / 2 + 10)
    # Pre-checks the same workers take first add their work.
    assert wait_estimate_s(ahead=0, running=1, slots=1, job_s=10, other_work_s=4) == pytest.approx(19)


def test_no_worker_or_no_history_means_no_estimate():
    assert wait_estimate_s(ahead=0, running=0, slots=0, job_s=10) is None
    assert wait_estimate_s(ahead=5, running=1, slots=3, job_s=None) is None
    with pytest.raises(ValueError):
        wait_estimate_s(ahead=-1, running=0, slots=1, job_s=10)


def test_the_typical_job_is_the_median_of_recent_durations():
    assert typical_job_s([]) is None
    assert typical_job_s([2.0, 3.0, 600.0]) == 3.0  # one job stuck to its timeout does not stretch it
    assert typical_job_s([4.0, 2.0]) == 3.0


def test_what_a_student_reads():
    assert wait_text("gpu", QueueWait(position=1, eta_s=None, live_slots=0)) == "waiting for a GPU worker"
    assert wait_text("cpu", QueueWait(position=3, eta_s=None, live_slots=2)) == "queued: 3rd in line"
    assert (
        wait_text("cpu", QueueWait(position=11, eta_s=42, live_slots=2)) == "queued: 11th in line, result in about 42 s"
    )
    assert wait_text("cpu", QueueWait(position=22, eta_s=600, live_slots=2)).endswith("about 10 min")
    assert wait_text("cpu", None) == "queued"
