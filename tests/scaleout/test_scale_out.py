"""Scale-out: three worker hosts share the broker, the gradebook and the blob store, and a host that
is cut off, loses its blob mount or dies mid-job costs time, never a submission or a double count.

Each host is a network namespace of this machine with its own hostname and mount namespace
(tests/scaleout/worker_hosts.py); the workers are real ``grader worker`` processes grading the
tiny ``mini`` coursework (one cell, one hidden test) in the real sandbox, with a 10 s lease and a
sweep every second. What is asserted comes from the gradebook.
"""

from __future__ import annotations

import textwrap
import time

import pytest
from cluster_kit import LEASE_S, Cluster
from sqlalchemy import select
from worker_kit import notebook, slow_notebook, wait_for

from grader.runs.models import RunArtifact, RunItemScore

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

# The hidden test draws a picture: a graded run writes it to the blob store before its marks.
DRAWING_TEST = textwrap.dedent("""\
    import numpy as np


    def test_add(student, run_seed, artifacts):
        x = run_seed % 1000
        y = student.run("y = add_one(x)", inputs={"x": x}, outputs=["y"])["y"]
        artifacts.image("half", np.full((2, 3), 0.5), title="Half grey")
        assert y == x + 1, "wrong sum"
    """)


def test_a_host_cut_off_mid_job_is_graded_once_by_another_host(cluster: Cluster):
    """The host grading the run loses its network (its cable is down) mid-job: its heartbeats stop,
    the lease runs out, another host's sweeper puts the run back and another host grades it. When
    the cable is back, the cut host's own job ends and changes nothing, and the host grades again."""
    world = cluster.world
    cluster.start_all()
    run_id = world.submit(slow_notebook(6))
    cluster.wake_all([run_id])
    first = world.wait_status(run_id, ("running",), 60)
    victim = cluster.host_of(first.worker_id)
    assert victim is not None, first.worker_id
    time.sleep(1)  # inside the job: the judge waits on the slow student call
    victim.host.cut()
    cut_at = time.monotonic()

    graded = world.wait_status(run_id, ("graded", "error"), LEASE_S + 90)
    recovered_s = time.monotonic() - cut_at
    world.assert_graded_once(run_id)
    regrader = cluster.host_of(graded.worker_id)
    assert graded.attempt == 2 and regrader is not None and regrader is not victim, graded.worker_id

    # The cable back: the cut host's job ends without writing anything. (Its heartbeat finds the
    # lease gone; its last write is refused by the lease, or fails on a connection the cut broke.)
    victim.host.restore()
    wait_for(
        lambda: "succeeded in" in victim.output() or "raised unexpected" in victim.output(),
        120,
        f"{victim.name} to end its job",
        cluster.logs,
    )
    after = world.assert_graded_once(run_id)
    assert (after.attempt, after.worker_id, after.finished_at) == (2, graded.worker_id, graded.finished_at)

    # The healed host grades again.
    for other in cluster.workers:
        if other is not victim:
            cluster.crash(other)
    again = world.submit(notebook("return x + 1"), student=1)
    cluster.wake_all([again])
    world.wait_status(again, ("graded", "error"), 120)
    assert cluster.host_of(world.assert_graded_once(again).worker_id) is victim
    print(f"cut -> graded by {regrader.name} in {recovered_s:.1f}s")


def test_a_host_losing_the_shared_blob_directory_mid_job_is_retried_elsewhere(cluster: Cluster):
    """The shared blob directory vanishes from the grading host mid-job: storing the run's drawing
    fails, which is an infrastructure failure (never a zero); the retry goes to a host that still
    has the directory, and the run is graded there, once, with its drawing stored."""
    world = cluster.world
    (world.rubrics_dir / "mini" / "hidden" / "test_mini.py").write_text(DRAWING_TEST)
    cluster.start_all()
    run_id = world.submit(slow_notebook(4))
    cluster.wake_all([run_id])
    first = world.wait_status(run_id, ("running",), 60)
    victim = cluster.host_of(first.worker_id)
    assert victim is not None, first.worker_id
    # After the fetch, while the judge waits on the slow student call: the job's writes will fail.
    wait_for(lambda: cluster.fetched(victim, run_id), 30, "the submission fetched", cluster.logs)
    cluster.vanish_blobs(victim)

    wait_for(lambda: world.run(run_id).attempt >= 2, 60, "the first attempt to fail", cluster.logs)
    failed = world.run(run_id)
    assert failed.error_kind == "infrastructure" and "Read-only file system" in (failed.error or ""), failed.error
    assert world.count(RunItemScore, run_id) == 0  # no mark from the failed attempt, zero or other

    graded = world.wait_status(run_id, ("graded", "error"), 120)
    run = world.assert_graded_once(run_id)
    assert cluster.host_of(graded.worker_id) not in (None, victim), graded.worker_id
    assert run.score == 2  # the full mark: the failure cost time, not points
    with world.sessions() as s:
        keys = s.scalars(select(RunArtifact.blob_key).where(RunArtifact.run_id == run_id)).all()
    assert len(keys) == 1 and world.api_blobs.exists(keys[0])  # in the shared store, once
    # Every attempt the blob-less host made failed as ours; none was counted.
    assert victim.output().count("infrastructure failure, retrying") == graded.attempt - 1, cluster.logs()


BURST = 60
KILLS = 20


def test_a_burst_of_60_with_20_hosts_killed_mid_job_grades_each_submission_once(cluster: Cluster):
    """60 submissions at once; 20 times a host is SIGKILLed (worker, pool and judge) while it grades,
    each time a run not killed before, and restarted. Every submission ends graded exactly once:
    each killed run comes back when its lease runs out and is graded by whichever host is free."""
    world = cluster.world
    cluster.start_all()
    runs = [world.submit(notebook("return x + 1"), student=n) for n in range(BURST)]
    started = time.monotonic()
    cluster.wake_all(runs)

    killed: dict[int, str] = {}  # run id -> the host killed while grading it
    while len(killed) < KILLS:
        assert time.monotonic() - started < 300, f"only {len(killed)} kills\n{cluster.logs()}"
        # A run claimed and running (first attempt) on a host that is up: kill that host.
        target = next(
            (
                (run, host)
                for run in cluster.running()
                if run.id not in killed and run.attempt == 1
                for host in [cluster.host_of(run.worker_id)]
                if host is not None and host.ready()
            ),
            None,
        )
        if target is None:
            time.sleep(0.1)
            continue
        run, host = target
        cluster.crash(host)
        killed[run.id] = host.name
        cluster.start(host)  # back at once; it counts as up again once it says it is ready
    killing_s = time.monotonic() - started

    wait_for(
        lambda: all(r.status.value in ("graded", "error") for r in world.runs()),
        600,  # about 2 minutes on 2 idle cores; five on this machine shared with other sessions
        "every run to end",
        cluster.logs,
    )
    total_s = time.monotonic() - started
    assert len(world.runs()) == BURST  # one run per submission: none added, none lost
    for run_id in runs:
        run = world.assert_graded_once(run_id)  # graded, full marks, result rows counted once
        if run_id in killed:
            assert run.attempt == 2, (run_id, run.attempt, run.error)
    retried = sorted(r.id for r in world.runs() if r.attempt > 1 and r.id not in killed)
    print(
        f"{BURST} graded, {KILLS} hosts killed mid-job (in {killing_s:.0f}s) in {total_s:.0f}s; "
        f"restarts {[w.starts - 1 for w in cluster.workers]}; retried but not killed: {retried}"
    )
