"""A GPU coursework's run with no GPU worker anywhere: a real CPU worker's sweeper moves it to the
rubric's fallback queue once ``fallback_after`` has passed, wakes the CPU queue, and the worker
grades it as a CPU job (no GPU device asked of the sandbox: there is none on this machine, so a
job that still asked for one would fail) with the note to markers in the run's log."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from worker_kit import World, notebook

from grader.audit.models import AuditEvent
from grader.runs.models import GradingRun

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

GPU_WITH_FALLBACK = "resources: {queue: gpu, gpu: true, memory_mb: 1024, fallback_queue: cpu, fallback_after: 2s}\n"


def test_a_stranded_gpu_run_is_graded_by_a_cpu_worker_after_its_wait(world: World):
    rubric = world.rubrics_dir / "mini" / "rubric.yaml"
    rubric.write_text(rubric.read_text() + GPU_WITH_FALLBACK)
    run_id = world.submit(notebook("return x + 1"))
    with world.sessions() as s:  # queued as the API queues a GPU coursework's run
        s.execute(update(GradingRun).where(GradingRun.id == run_id).values(queue="gpu"))
        s.commit()
    world.start_worker()  # serves precheck and cpu, sweeps every second; nobody serves gpu

    run = world.wait_status(run_id, ("graded", "error"), 120)
    world.assert_graded_once(run_id)
    assert (run.queue, run.fallback_from) == ("cpu", "gpu")
    assert "note: no GPU worker was available, so this run moved to the CPU workers" in run.log
    with world.sessions() as s:
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "run.fallback")).all()
        assert event.details["run_id"] == run_id and event.details["waited_s"] >= 2
