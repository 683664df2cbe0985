"""The ETA arithmetic, as pure functions (the drain rate, the estimate), and the sentence a student reads."""

from __future__ import annotations

import pytest

from grader.runs.eta import (
    RECENT_CLAIMS,
    QueueWait,
    calibration,
    claimed_share,
    drain_rate,
    typical_job_s,
    wait_estimate_s,
    waiting_s,
)
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


def test_waiting_time_is_the_union_of_the_runs_waits_within_the_span():
    # Two overlapping waits (0-10, 5-20), a gap, one more (30-40): 30 s, and 20 s from 10 s on.
    waits = [(5.0, 20.0), (0.0, 10.0), (30.0, 40.0)]
    assert waiting_s(waits, 0, 100) == 30
    assert waiting_s(waits, 10, 35) == 15
    assert waiting_s([(0.0, 50.0), (10.0, 20.0)], 0, 100) == 50  # a wait inside another counts once
    assert waiting_s([], 0, 100) == 0


def test_the_drain_rate_is_claims_over_the_time_runs_waited():
    # A claim every 2 s while runs wait throughout: 0.5 a second.
    claims = [float(t) for t in range(0, 20, 2)]
    assert drain_rate(claims, [(-5.0, 30.0)], now=18, min_waiting_s=1) == pytest.approx(0.5)
    # The same claims with an idle minute in the middle (nothing waited): the idle time does not count.
    gapped = [float(t) for t in range(0, 10, 2)] + [float(t) for t in range(70, 80, 2)]
    waits = [(-5.0, 8.0), (68.0, 100.0)]
    assert drain_rate(gapped, waits, now=78, min_waiting_s=1) == pytest.approx(9 / 18)
    # Only the latest claims count: a slow past does not drag on a fast present.
    slow_then_fast = [float(t) for t in range(0, 200, 10)] + [200 + float(t) for t in range(RECENT_CLAIMS)]
    rate = drain_rate(slow_then_fast, [(0.0, 300.0)], now=200 + RECENT_CLAIMS - 1, min_waiting_s=1)
    assert rate == pytest.approx(1.0)


def test_too_little_seen_measures_no_rate():
    assert drain_rate([1.0, 2.0], [(0.0, 5.0)], now=5, min_waiting_s=1) is None  # two claims
    assert drain_rate([1.0, 2.0, 3.0], [], now=5, min_waiting_s=1) is None  # claimed as they came: no waiting
    assert drain_rate([1.0, 2.0, 3.0], [(0.0, 5.0)], now=5, min_waiting_s=30) is None  # under a job's worth
    # A claim after ``now`` (a clock read late) is not one seen: three claims over 4 s of waiting.
    assert drain_rate([1.0, 2.0, 3.0, 30.0], [(0.0, 5.0)], now=5, min_waiting_s=1) == pytest.approx(0.5)


def test_a_measured_drain_rate_replaces_the_model():
    # Ten ahead, claims every 2 s (the two slots share their time with pre-checks): claimed in 10.5
    # intervals, 21 s, then its own 3 s job. The model, blind to the pre-checks still to come, would
    # say (2 * 3 / 2 + 10 * 3) / 2 + 3 = 19.5 s.
    assert wait_estimate_s(ahead=10, running=2, slots=2, job_s=3, drain_per_s=0.5) == pytest.approx(24)
    assert wait_estimate_s(ahead=10, running=2, slots=2, job_s=3) == pytest.approx(19.5)
    # A slot free and no pre-check waiting: it starts now, whatever the rate.
    assert wait_estimate_s(ahead=0, running=1, slots=2, job_s=3, drain_per_s=0.01) == 3
    # No live worker: no estimate, however fast the queue drained before.
    assert wait_estimate_s(ahead=3, running=0, slots=0, job_s=3, drain_per_s=5) is None


def test_runs_ahead_count_as_their_chance_of_being_claimed():
    # Of the runs that left lately, 6 claimed and 4 superseded: a run ahead is claimed 60 % of the time.
    assert claimed_share(6, 4) == pytest.approx(0.6)
    assert claimed_share(5, 0) == 1.0 and claimed_share(0, 0) == 1.0  # nothing superseded: every one counts
    # Ten ahead at 0.6: six claims to wait for, the next half an interval away; then its own 3 s job.
    assert wait_estimate_s(ahead=10, running=2, slots=2, job_s=3, drain_per_s=0.5, claimed_share=0.6) == (
        pytest.approx((6 + 0.5) / 0.5 + 3)
    )
    # The share scales the measured estimate only: the model counts every run ahead.
    assert wait_estimate_s(ahead=10, running=2, slots=2, job_s=3, claimed_share=0.6) == pytest.approx(19.5)
    with pytest.raises(ValueError):
        claimed_share(-1, 2)
    with pytest.raises(ValueError):
        wait_estimate_s(ahead=1, running=1, slots=1, job_s=3, drain_per_s=1, claimed_share=0)


def test_the_calibration_is_the_median_of_real_over_estimated_waits():
    # (estimated when queued, real) seconds to the claim: real waits twice, three times, once the estimate.
    assert calibration([(10, 20), (10, 30), (20, 20)]) == pytest.approx(2)
    # Waits estimated under a second say nothing; fewer than three usable ones: no correction.
    assert calibration([(0.0, 5), (0.5, 9), (10, 20), (10, 30)]) == 1.0
    # A run of absurd waits is bounded.
    assert calibration([(10, 1000)] * 5) == 4.0 and calibration([(100, 1)] * 5) == 0.25
    # Applied to the wait to the claim, not to the run's own job.
    assert wait_estimate_s(ahead=10, running=2, slots=2, job_s=3, drain_per_s=0.5, calibrated_by=2) == (
        pytest.approx(21 * 2 + 3)
    )
    assert wait_estimate_s(ahead=10, running=2, slots=2, job_s=3, calibrated_by=2) == pytest.approx(16.5 * 2 + 3)


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
