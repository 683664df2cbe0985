"""Workers against real Redis and Postgres: graded once, whatever dies or is delivered twice.

Every test runs real ``grader worker`` processes (Celery, prefork) with the production broker
(Redis) and grades the tiny ``mini`` coursework in the real sandbox (a few seconds a run).
"""

from __future__ import annotations

import datetime as dt
import io
import signal
import subprocess
import time

import pytest
from worker_kit import LEASE_S, World, notebook, slow_notebook, wait_for

from grader.blobs import LocalBlobStore
from grader.runs.models import RunItemScore, RunTestResult
from workers.dispatch import RETRY_BASE_S

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def test_a_wake_up_grades_the_run_once_with_item_scores(world: World):
    world.start_worker()
    good = world.submit(notebook("return x + 1"), student=0)
    broken = world.submit(b"this is not a notebook", student=1)
    world.wake(good)
    world.wake(broken)

    run = world.wait_status(good, ("graded", "error"), 120)
    world.assert_graded_once(good)
    assert run.attempt == 1 and run.worker_id and run.backend and run.hidden_digest
    assert run.rubric_digest is not None and len(run.rubric_digest) == 64  # the rubric file that graded it
    assert run.lease_expires_at is None and run.finished_at is not None

    # A student's broken upload is a verdict, recorded once, never retried.
    bad = world.wait_status(broken, ("graded", "error"), 120)
    assert bad.status.value == "error" and bad.error_kind == "submission" and bad.attempt == 1, bad.error
    assert world.count(RunItemScore, broken) == 0


def test_b_sigkill_mid_grading_with_redis_then_graded_exactly_once(world: World):
    """The worker dies mid-job (SIGKILL: no ack, no clean-up). Redis keeps the unacknowledged task
    for the whole visibility timeout (above the longest job), so the gradebook's lease is what
    brings the run back: the sweeper of a second worker re-wakes it once the lease runs out."""
    first = world.start_worker()
    run_id = world.submit(slow_notebook(6))
    world.wake(run_id)
    running = world.wait_status(run_id, ("running",), 60)
    time.sleep(2)  # well inside the grading: the judge is waiting on the slow student call
    assert world.run(run_id).status.value == "running"
    killed_at = time.monotonic()
    world.kill(first, signal.SIGKILL)
    first.proc.wait(timeout=10)

    # The unacknowledged message is still in Redis, held back until its visibility timeout.
    r = world.redis.client()
    assert r.hlen("unacked") == 1

    world.start_worker()
    run = world.wait_status(run_id, ("graded", "error"), LEASE_S + 90)
    recovered_s = time.monotonic() - killed_at
    run = world.assert_graded_once(run_id)
    assert run.attempt == 2 and run.worker_id != running.worker_id
    assert "lease" in (run.error or "") or run.error is None

    # Redis redelivering the old task later (or any other late copy) changes nothing.
    world.wake(run_id)
    world.wake(run_id)
    time.sleep(4)
    assert world.assert_graded_once(run_id).attempt == 2
    print(f"SIGKILL -> graded by the second worker in {recovered_s:.1f}s")


def test_c_redis_restart_while_queued_loses_no_submission(world: World):
    """This session's private Redis (no persistence) restarts while a run is being graded and three
    wait in the broker: every wake-up in Redis is gone, and the sweeper re-wakes the runs from the
    gradebook. The worker also holds a countdown wake-up (as a retry does) and survives the restart."""
    worker = world.start_worker()
    busy = world.submit(slow_notebook(4), student=0)
    world.wake(busy)
    world.wait_status(busy, ("running",), 60)
    queued = [world.submit(notebook("return x + 1"), student=n) for n in (1, 2, 3)]
    world.wake(queued[0], countdown=600)  # the worker takes it and holds it, unacknowledged
    for run_id in queued:
        world.wake(run_id)
    r = world.redis.client()
    wait_for(lambda: r.hlen("unacked") == 2, 10, "the worker to hold the busy and the countdown task")
    assert r.llen("cpu") >= 3  # (the sweeper may have added a re-wake of its own)

    world.redis.restart()
    assert r.llen("cpu") == 0 and r.hlen("unacked") == 0  # the broker lost every wake-up
    started = time.monotonic()

    for run_id in [busy, *queued]:
        world.wait_status(run_id, ("graded", "error"), 180)
        world.assert_graded_once(run_id)
    print(f"all 4 graded {time.monotonic() - started:.1f}s after the Redis restart")
    assert worker.proc.poll() is None and "Unrecoverable error" not in worker.output(), worker.output()


def test_d_worker_grades_without_access_to_the_api_filesystem(world: World):
    """The worker runs in a mount namespace where the API's blob directory is an empty read-only
    tmpfs, and reads submissions from its own store (a replica: the shape of a remote store)."""
    replica = LocalBlobStore(world.tmp / "worker-blobs")
    content = notebook("return x + 1")
    replicated = world.submit(content, student=0)
    with open(world.api_blobs.path(_sha(content)), "rb") as fh:
        replica.put(fh)  # the replication a shared store would do
    only_api = world.submit(notebook("return 1 + x"), student=1)  # never replicated

    api_dir = str(world.api_blobs.root)
    wrap = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        f'mount -t tmpfs -o ro,size=1m none "{api_dir}" && ls -A "{api_dir}" | wc -l >&2 && exec "$@"',
        "sh",
    ]
    worker = world.start_worker(wrap=wrap, GRADER_BLOB_DIR=str(replica.root), GRADER_MAX_ATTEMPTS="1")
    assert worker.output().lstrip().startswith("0")  # the API's blobs are invisible to the worker
    world.wake(replicated)
    world.wake(only_api)

    world.wait_status(replicated, ("graded", "error"), 120)
    run = world.assert_graded_once(replicated)
    assert run.executed_notebook_key is None or replica.exists(run.executed_notebook_key)

    # The blob only the API holds cannot be reached: an infrastructure error, not a mark.
    missing = world.wait_status(only_api, ("error",), 120)
    assert missing.error_kind == "infrastructure" and "BlobNotFound" in (missing.error or "")
    assert world.count(RunItemScore, only_api) == 0


def test_e_a_task_delivered_twice_never_counts_twice(world: World):
    """The same wake-up delivered to two workers at once, and again after the run is graded."""
    world.start_worker()
    world.start_worker()
    run_id = world.submit(slow_notebook(2))
    world.wake(run_id)
    world.wake(run_id)
    world.wait_status(run_id, ("graded", "error"), 120)
    time.sleep(3)  # let the second delivery finish too
    run = world.assert_graded_once(run_id)
    assert run.attempt == 1
    world.wake(run_id)
    time.sleep(3)
    assert world.assert_graded_once(run_id).finished_at == run.finished_at
    assert world.count(RunTestResult, run_id) == 1
    logs = world.worker_logs()
    assert logs.count("not claimable") >= 2, logs


def test_sigterm_finishes_the_job_in_hand(world: World):
    """Warm shutdown: SIGTERM while grading, the worker finishes and records the run, then exits."""
    worker = world.start_worker()
    run_id = world.submit(slow_notebook(4))
    world.wake(run_id)
    world.wait_status(run_id, ("running",), 60)
    time.sleep(1)
    worker.proc.send_signal(signal.SIGTERM)  # the main process only, as a service manager does
    try:
        worker.proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("the worker did not stop after SIGTERM\n" + worker.output())
    run = world.assert_graded_once(run_id)
    assert run.attempt == 1  # graded by the worker that was told to stop, no sweep needed


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_an_infrastructure_failure_is_retried_after_a_backoff(world: World):
    """The blob is not in the worker's store yet (a replica lagging): fail_run puts the run back,
    a wake-up with a countdown retries it, the sweeper does not cut the backoff short."""
    replica = LocalBlobStore(world.tmp / "worker-blobs")
    content = notebook("return x + 1")
    run_id = world.submit(content)
    world.start_worker(GRADER_BLOB_DIR=str(replica.root))
    world.wake(run_id)
    wait_for(lambda: world.run(run_id).attempt == 2, 60, "the first attempt to fail", world.worker_logs)
    failed_at = time.monotonic()
    first = world.run(run_id)
    assert first.status.value == "queued" and "BlobNotFound" in first.error and first.error_kind == "infrastructure"
    with open(world.api_blobs.path(_sha(content)), "rb") as fh:
        replica.put(fh)
    run = world.wait_status(run_id, ("graded", "error"), 120)
    waited = time.monotonic() - failed_at
    world.assert_graded_once(run_id)
    assert run.attempt == 2
    assert waited >= RETRY_BASE_S - 1, f"retried after {waited:.1f}s, before the backoff"
    # The whole log, not worker_logs()'s 4,000-character tail: at one sweep a second that tail can
    # hold less than the ~20 s since the first claim.
    assert sum(w.output().count(f"run {run_id}: claimed") for w in world.workers) == 2


def test_the_embedded_filesystem_broker_works_too(world: World):
    world.broker_url = "filesystem://"
    world.start_worker()
    run_id = world.submit(notebook("return x + 1"))
    world.wake(run_id)
    world.wait_status(run_id, ("graded", "error"), 120)
    world.assert_graded_once(run_id)


def test_a_heartbeat_that_loses_its_lease_stops_and_nothing_is_written(world: World):
    """In-process: the run is swept from under a live heartbeat; the heartbeat notices, and the
    result of the old lease is refused."""
    from grader.grading.report import GradeReport
    from grader.runs.service import claim_run, complete_run, sweep_expired_leases
    from workers.heartbeat import Heartbeat

    run_id = world.submit(notebook("return x + 1"))
    with world.sessions() as s:
        lease = claim_run(session=s, run_id=run_id, worker_id="w1", lease_s=LEASE_S)
    beat = Heartbeat(world.sessions, lease, LEASE_S)
    beat.start()
    try:
        time.sleep(LEASE_S / 3 + 1)
        assert not beat.lost.is_set() and beat.lease.expires_at > lease.expires_at  # renewed
        with world.sessions() as s:
            far = beat.lease.expires_at + dt.timedelta(seconds=1)
            assert sweep_expired_leases(session=s, now=far) == [run_id]
        wait_for(beat.lost.is_set, LEASE_S, "the heartbeat to notice")
    finally:
        beat.stop()
    report = GradeReport(coursework="mini", status="graded", max_score=3, auto_max_score=2)
    with world.sessions() as s:
        assert complete_run(session=s, lease=beat.lease, report=report) is None
    assert world.run(run_id).status.value == "queued" and world.count(RunItemScore, run_id) == 0


def test_an_idle_worker_holding_a_countdown_task_survives_a_redis_restart(world: World):
    """kombu 5.7 makes such a worker exit ("Unrecoverable error") when Redis goes away; see
    workers/broker.py. The worker must reconnect, and the sweeper re-wakes the lost run."""
    worker = world.start_worker()
    run_id = world.submit(notebook("return x + 1"))
    world.wake(run_id, countdown=600)
    r = world.redis.client()
    wait_for(lambda: r.hlen("unacked") == 1, 10, "the worker to hold the countdown task")
    world.redis.restart()
    world.wait_status(run_id, ("graded", "error"), 120)
    world.assert_graded_once(run_id)
    assert worker.proc.poll() is None and "Unrecoverable error" not in worker.output(), worker.output()


def test_a_submission_whose_run_was_never_queued_is_graded(world: World):
    """The API committed the submission, then lost the database before enqueuing its run: the
    sweeper finds the submission without a run, queues one and wakes a worker."""
    from grader.submissions.service import record_submission

    content = notebook("return x + 1")
    blob = world.api_blobs.put(io.BytesIO(content))
    with world.sessions() as s:
        submission, _ = record_submission(
            session=s,
            coursework_id=world.coursework_id,
            student_id=world.student_ids[0],
            sha256=blob.sha256,
            size_bytes=blob.size,
            original_filename="mini.ipynb",
            blob_key=blob.sha256,
        )
        s.commit()
    world.start_worker()
    wait_for(lambda: len(world.runs()) == 1, 60, "the sweeper to queue a run", world.worker_logs)
    run_id = world.runs()[0].id
    world.wait_status(run_id, ("graded", "error"), 120)
    world.assert_graded_once(run_id)
    assert world.runs()[0].submission_id == submission.id and len(world.runs()) == 1
