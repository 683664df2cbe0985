"""A real ``grader worker`` in the registry: it announces its host, pid, queues and concurrency,
beats while it runs and withdraws when stopped; and its wake-ups claim in the fair order (a wake-up
is a turn, not a ticket), so one student's burst does not hold up another's single run."""

from __future__ import annotations

import signal
import socket

import pytest
from worker_kit import World, notebook, wait_for

from grader.runs.models import GradingRun, RunStatus
from grader.runs.registry import live_workers

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def registered(world: World):
    with world.sessions() as s:
        return live_workers(session=s)


def test_a_worker_registers_grades_in_the_fair_order_and_withdraws(world: World):
    # Student 0 sends two files, then student 1 one; all three wake-ups wait in the broker, FIFO.
    burst = [world.submit(notebook(f"return x + {n}"), student=0) for n in (1, 2)]
    single = world.submit(notebook("return x + 1"), student=1)
    for run_id in (*burst, single):
        world.wake(run_id)
    worker = world.start_worker()
    wait_for(lambda: len(registered(world)) == 1, 30, "the worker in the registry")
    (me,) = registered(world)
    assert (me.host, me.pid, me.queues, me.concurrency) == (
        socket.gethostname(),
        worker.proc.pid,
        ("cpu", "precheck"),
        1,
    )

    def all_graded() -> bool:
        return all(world.run(r).status is RunStatus.graded for r in (*burst, single))

    wait_for(all_graded, 120, "all graded", diag=world.worker_logs)
    with world.sessions() as s:
        order = [r.id for r in s.query(GradingRun).order_by(GradingRun.started_at)]
    assert order == [burst[0], single, burst[1]]  # FIFO would have made student 1 wait for both

    world.kill(worker, signal.SIGTERM)
    worker.proc.wait(timeout=60)
    assert registered(world) == []  # withdrawn on a clean stop, not left to look live
