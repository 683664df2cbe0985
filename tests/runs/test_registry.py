"""The worker registry: liveness by heartbeat, slots per queue, positions and ETAs from it (and
from the queue's recent claims), and a queue with work and no live worker."""

from __future__ import annotations

import datetime as dt

import pytest
from gradebook_factory import DEADLINE, add_coursework, add_student, graded_report, submit

from grader.runs.registry import LIVE_FOR_S, announce, forget_vanished, live_workers, slots_by_queue, withdraw
from grader.runs.service import claim_next_run, complete_run, enqueue_run
from grader.runs.waits import queue_states, run_wait, wait_text
from grader.submissions.supersede import supersede_waiting_runs

T0 = DEADLINE
S = dt.timedelta(seconds=1)


def test_a_worker_is_live_while_it_beats(session):
    announce(session=session, name="w1", host="h1", pid=11, queues=["cpu", "precheck"], concurrency=2, now=T0)
    announce(session=session, name="g1", host="h2", pid=12, queues=["gpu"], concurrency=1, now=T0)
    assert [w.name for w in live_workers(session=session, now=T0 + 5 * S)] == ["g1", "w1"]
    announce(session=session, name="w1", host="h1", pid=11, queues=["cpu", "precheck"], concurrency=2, now=T0 + 20 * S)
    later = T0 + dt.timedelta(seconds=LIVE_FOR_S) + 5 * S  # g1 missed three beats; w1 beat since
    assert [w.name for w in live_workers(session=session, now=later)] == ["w1"]
    assert slots_by_queue(live_workers(session=session, now=later)) == {"cpu": 2, "precheck": 2}
    withdraw(session=session, name="w1")
    assert live_workers(session=session, now=later) == []
    assert forget_vanished(session=session, now=T0 + dt.timedelta(days=2)) == 1  # g1's row


def test_a_queue_with_work_and_no_live_worker_is_reported(session):
    cw, student = add_coursework(session), add_student(session)
    enqueue_run(session=session, submission_id=submit(session, student, cw, T0).id, queue="gpu", now=T0)
    announce(session=session, name="w1", host="h1", pid=11, queues=["cpu"], concurrency=1, now=T0)
    states = {q.queue: q for q in queue_states(session=session, now=T0 + S)}
    assert states["gpu"].stranded and states["gpu"].queued == 1 and states["gpu"].slots == 0
    assert not states["cpu"].stranded and states["cpu"].slots == 1
    gpu_run = enqueue_run(session=session, submission_id=submit(session, student, cw, T0 + S).id, queue="gpu")
    wait = run_wait(session=session, run=gpu_run, now=T0 + 2 * S)
    assert wait is not None and wait.live_slots == 0 and wait.eta_s is None
    assert wait_text("gpu", wait) == "waiting for a GPU worker"


def test_position_and_eta_from_recent_jobs_and_live_slots(session):
    cw = add_coursework(session)
    students = [add_student(session) for _ in range(4)]
    # Two finished jobs of this coursework, 10 s each.
    for i in range(2):
        run = enqueue_run(session=session, submission_id=submit(session, students[0], cw, T0 + i * S).id, now=T0)
        lease = claim_next_run(session=session, worker_id="w", now=T0 + (20 * i) * S)
        assert lease is not None and lease.run_id == run.id
        complete_run(session=session, lease=lease, report=graded_report(), now=T0 + (20 * i + 10) * S)
    now = T0 + 60 * S
    announce(session=session, name="w1", host="h1", pid=11, queues=["cpu"], concurrency=1, now=now)
    waiting = [
        enqueue_run(session=session, submission_id=submit(session, s, cw, now + i * S).id, now=now + i * S)
        for i, s in enumerate(students[1:])
    ]
    waits = [run_wait(session=session, run=r, now=now + 5 * S) for r in waiting]
    assert [w.position for w in waits] == [1, 2, 3]
    # One slot, nothing running: the first gets its result in one job, the third after three.
    assert [w.eta_s for w in waits] == [10.0, 20.0, 30.0]
    states = {q.queue: q for q in queue_states(session=session, now=now + 5 * S)}
    assert states["cpu"].queued == 3 and states["cpu"].job_s == 10.0 and states["cpu"].wait_estimate_s == 40.0


def test_once_claims_are_seen_the_eta_follows_the_queues_drain_rate(session):
    start = T0 - dt.timedelta(hours=1)  # every upload on time: the newest one counts, older ones give way
    cw = add_coursework(session)
    students = [add_student(session) for _ in range(7)]
    # Four runs queued at once and claimed one after another, 10 s each: claims at 10, 20, 30, 40 s.
    for student in students[:4]:
        enqueue_run(session=session, submission_id=submit(session, student, cw, start).id, now=start)
    for i in range(4):
        lease = claim_next_run(session=session, worker_id="w", now=start + (10 + 10 * i) * S)
        assert lease is not None
        complete_run(session=session, lease=lease, report=graded_report(), now=start + (20 + 10 * i) * S)
    # A fifth waits from 40 s until its student's next upload supersedes it at 50 s.
    enqueue_run(session=session, submission_id=submit(session, students[4], cw, start + 40 * S).id, now=start + 40 * S)
    newer = submit(session, students[4], cw, start + 50 * S)
    assert len(supersede_waiting_runs(session=session, submission=newer)) == 1
    # Nothing waits from 50 to 60 s; then three runs join.
    now = start + 60 * S
    waiting = [
        enqueue_run(session=session, submission_id=sub_id, now=now)
        for sub_id in (newer.id, submit(session, students[5], cw, now).id, submit(session, students[6], cw, now).id)
    ]
    announce(session=session, name="w1", host="h1", pid=11, queues=["cpu"], concurrency=1, now=now)
    wait = run_wait(session=session, run=waiting[2], now=now)
    # Three claims after the first, over the 40 s in which runs waited since it (10 to 50 s: the
    # superseded run's wait counts, the idle 10 s do not): 0.075 a second. Of the five runs that
    # left since the first claim, four were claimed: each run ahead counts 0.8 of a claim. Third in
    # line: claimed after 2 * 0.8 + 0.5 intervals, 28 s, then its own 10 s job.
    assert wait is not None and wait.position == 3
    assert wait.eta_s == pytest.approx((2 * 0.8 + 0.5) / 0.075 + 10)
    states = {q.queue: q for q in queue_states(session=session, now=now)}
    assert states["cpu"].wait_estimate_s == pytest.approx((3 * 0.8 + 0.5) / 0.075 + 10)  # one joining at the back


def test_each_run_keeps_its_estimate_and_the_queues_real_waits_calibrate_the_next(session):
    start = T0 - dt.timedelta(hours=1)
    cw = add_coursework(session)
    students = [add_student(session) for _ in range(6)]
    announce(session=session, name="w1", host="h1", pid=11, queues=["cpu"], concurrency=1, now=start)
    first = enqueue_run(session=session, submission_id=submit(session, students[0], cw, start).id, now=start)
    lease = claim_next_run(session=session, worker_id="w", now=start)
    assert lease is not None and lease.run_id == first.id
    complete_run(session=session, lease=lease, report=graded_report(), now=start + 10 * S)  # a job: 10 s
    # Four runs queued together behind one free slot: the slot is free for the first, then a job each.
    t = start + 10 * S
    runs = [enqueue_run(session=session, submission_id=submit(session, s, cw, t).id, now=t) for s in students[1:5]]
    assert [r.claim_estimate_s for r in runs] == pytest.approx([0, 10, 20, 30])
    # Each was claimed after twice its estimate (the first, estimated at no wait, calibrates nothing).
    for run, claimed_at in zip(runs, (t, t + 20 * S, t + 40 * S, t + 60 * S), strict=True):
        lease = claim_next_run(session=session, worker_id="w", now=claimed_at)
        assert lease is not None and lease.run_id == run.id
        complete_run(session=session, lease=lease, report=graded_report(), now=claimed_at + 10 * S)
    announce(session=session, name="w1", host="h1", pid=11, queues=["cpu"], concurrency=1, now=t + 60 * S)
    late = enqueue_run(session=session, submission_id=submit(session, students[5], cw, t + 65 * S).id, now=t + 65 * S)
    lease = claim_next_run(session=session, worker_id="w", now=t + 66 * S)  # the slot is busy from here
    queued = enqueue_run(session=session, submission_id=submit(session, students[0], cw, t + 67 * S).id, now=t + 67 * S)
    assert lease is not None and lease.run_id == late.id
    wait = run_wait(session=session, run=queued, now=t + 68 * S)
    assert wait is not None and wait.claim_estimate_s is not None and wait.claim_estimate_s > 0
    assert wait.eta_s == pytest.approx(wait.claim_estimate_s * 2 + 10)  # twice the estimate, then a job
    # A run revived from superseded waited from its first queueing: its estimate is dropped.
    newer = submit(session, students[0], cw, t + 69 * S)
    assert supersede_waiting_runs(session=session, submission=newer) == [queued.id]
    assert enqueue_run(session=session, submission_id=queued.submission_id).claim_estimate_s is None
