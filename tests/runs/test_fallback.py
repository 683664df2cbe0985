"""A rubric's fallback queue: a run that waits on a queue no live worker serves moves, after the
rubric's ``fallback_after``, to its ``fallback_queue``; audited, kept on the run, told to the student,
and graded there as a job of that queue (a GPU job on CPU: no GPU, the CPU limits)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from gradebook_factory import DEADLINE, add_coursework, add_student, submit
from pg_database import empty_tables
from rubric_factory import make_rubric
from sqlalchemy import Engine, select, update

from grader.audit.models import AuditEvent
from grader.db.clock import db_now
from grader.db.engine import session_factory
from grader.runs.fallback import FallbackRule, fall_back, fallback_note, rubric_on_queue, stranded_courseworks
from grader.runs.models import GradingRun, RunStatus
from grader.runs.registry import announce
from grader.runs.service import claim_run, enqueue_run, get_run
from grader.runs.waits import run_wait, wait_text
from grader.settings import Settings
from workers.sweeper import Sweeper

T0 = DEADLINE
MIN = dt.timedelta(minutes=1)
GPU_TO_CPU = {"queue": "gpu", "gpu": True, "memory_mb": 8192, "time_s": 120, "fallback_queue": "cpu"}


def _rule(cw_id: int) -> FallbackRule:
    return FallbackRule(coursework_id=cw_id, queue="gpu", fallback_queue="cpu", after_s=15 * 60)


def _cpu_worker(session, now: dt.datetime, name: str = "c1") -> None:
    announce(session=session, name=name, host="h1", pid=11, queues=["precheck", "cpu"], concurrency=2, now=now)


def test_a_gpu_run_moves_to_cpu_after_its_wait_and_the_move_is_audited(session):
    cw, student = add_coursework(session), add_student(session)
    sub = submit(session, student, cw, T0)
    run = enqueue_run(session=session, submission_id=sub.id, queue="gpu", now=T0)
    _cpu_worker(session, T0 + 14 * MIN)
    assert stranded_courseworks(session=session, now=T0 + 14 * MIN)[cw.id] == {"gpu"}

    assert fall_back(session=session, rules=[_rule(cw.id)], now=T0 + 14 * MIN) == []  # not waited long enough
    assert get_run(session=session, run_id=run.id).queue == "gpu"

    _cpu_worker(session, T0 + 15 * MIN)  # its heartbeat
    moved = fall_back(session=session, rules=[_rule(cw.id)], now=T0 + 15 * MIN + dt.timedelta(seconds=1))
    assert [(m.run_id, m.from_queue, m.to_queue) for m in moved] == [(run.id, "gpu", "cpu")]
    assert moved[0].waited_s > 15 * 60
    run = get_run(session=session, run_id=run.id)
    assert (run.queue, run.fallback_from, run.status) == ("cpu", "gpu", RunStatus.queued)
    assert run.fell_back_at is not None
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "run.fallback")).one()
    assert event.subject_id == str(sub.id) and event.actor_id is None
    assert event.details["run_id"] == run.id and event.details["to_queue"] == "cpu"
    # Moved once: a second pass finds nothing on the gpu queue.
    assert fall_back(session=session, rules=[_rule(cw.id)], now=T0 + 20 * MIN) == []

    # The student reads where it went, and their place there.
    wait = run_wait(session=session, run=run, now=T0 + 15 * MIN + dt.timedelta(seconds=2))
    assert wait is not None and wait.live_slots == 2
    text = wait_text(run.queue, wait, run.fallback_from)
    assert text.startswith("no GPU worker was available, so it moved to the CPU workers; queued: 1st in line")
    assert "without a GPU" in (fallback_note(run) or "")


def test_no_move_while_a_gpu_worker_is_live_or_no_cpu_worker_is(session):
    cw, student = add_coursework(session), add_student(session)
    run = enqueue_run(session=session, submission_id=submit(session, student, cw, T0).id, queue="gpu", now=T0)
    late = T0 + 30 * MIN
    # No worker at all: moving it would only lose it its GPU.
    assert fall_back(session=session, rules=[_rule(cw.id)], now=late) == []
    # A live GPU worker: the queue is served, the run waits its turn there.
    _cpu_worker(session, late)
    announce(session=session, name="g1", host="h2", pid=12, queues=["gpu"], concurrency=1, now=late)
    assert cw.id not in stranded_courseworks(session=session, now=late)
    assert fall_back(session=session, rules=[_rule(cw.id)], now=late) == []
    assert get_run(session=session, run_id=run.id).queue == "gpu"


def test_a_run_claimed_meanwhile_or_of_another_coursework_stays(session):
    cw, other, student = add_coursework(session), add_coursework(session), add_student(session)
    claimed = enqueue_run(session=session, submission_id=submit(session, student, cw, T0).id, queue="gpu", now=T0)
    elsewhere = enqueue_run(session=session, submission_id=submit(session, student, other, T0).id, queue="gpu", now=T0)
    assert claim_run(session=session, run_id=claimed.id, worker_id="g:1:x", now=T0 + MIN) is not None
    _cpu_worker(session, T0 + 30 * MIN)
    assert fall_back(session=session, rules=[_rule(cw.id)], now=T0 + 30 * MIN) == []
    assert get_run(session=session, run_id=claimed.id).queue == "gpu"
    assert get_run(session=session, run_id=elsewhere.id).queue == "gpu"  # its rubric has no fallback rule


def test_a_gpu_rubric_on_the_cpu_queue_is_a_cpu_job():
    rubric = make_rubric(resources={**GPU_TO_CPU, "fallback_after": "15m", "reproducible": True, "seed": 7})
    assert rubric.resources.fallback_after == 900
    on_cpu = rubric_on_queue(rubric, "cpu").resources
    assert (on_cpu.queue, on_cpu.gpu, on_cpu.memory_mb, on_cpu.time_s) == ("cpu", False, None, None)
    assert (on_cpu.reproducible, on_cpu.seed) == (True, 7)  # how it is graded stays
    assert rubric_on_queue(rubric, "gpu") is rubric


def test_the_sweeper_moves_a_stranded_run_and_wakes_the_fallback_queue(pg_url: str, engine: Engine, tmp_path: Path):
    empty_tables(engine)
    sessions = session_factory(engine)
    with sessions() as s:
        cw, student = add_coursework(s), add_student(s)
        cw_code = cw.code
        now = db_now(s)
        run_id = enqueue_run(session=s, submission_id=submit(s, student, cw, now).id, queue="gpu", now=now).id
        s.execute(update(GradingRun).where(GradingRun.id == run_id).values(enqueued_at=now - 10 * MIN))
        s.commit()
        _cpu_worker(s, now)
    rubric = make_rubric(coursework=cw_code, resources={**GPU_TO_CPU, "fallback_after": "5m"})
    (tmp_path / cw_code / "hidden").mkdir(parents=True)
    (tmp_path / cw_code / "rubric.yaml").write_text(yaml.safe_dump(rubric.model_dump(mode="json", exclude_none=True)))

    woken: list[tuple[int, str]] = []
    sweeper = Sweeper(
        Settings(database_url=pg_url, sweep_interval_s=30, rubrics_dir=tmp_path),
        lambda rid, q, c: woken.append((rid, q)),
    )
    assert sweeper.sweep()["fallback"] == [run_id]
    assert (run_id, "cpu") in woken  # the wake-up goes to the queue it now waits on
    with sessions() as s:
        run = s.get_one(GradingRun, run_id)
        assert (run.queue, run.fallback_from) == ("cpu", "gpu")
    assert sweeper.sweep()["fallback"] == []
    empty_tables(engine)  # its live worker must not serve the other tests' queues


def test_with_no_wait_set_a_run_moves_within_a_second_not_at_the_next_sweep(
    pg_url: str, engine: Engine, tmp_path: Path
):
    """``fallback_after_s: 0`` (what `grader up` sets where there is no GPU, and what tests set) overrides
    the rubric's 15 minutes, and the sweeper thread looks for such runs every second between sweeps."""
    import threading

    from workers.sweeper import SweeperThread

    empty_tables(engine)
    sessions = session_factory(engine)
    with sessions() as s:
        cw, student = add_coursework(s), add_student(s)
        cw_code = cw.code
        now = db_now(s)
        _cpu_worker(s, now)
        run_id = enqueue_run(session=s, submission_id=submit(s, student, cw, now).id, queue="gpu", now=now).id
    rubric = make_rubric(coursework=cw_code, resources={**GPU_TO_CPU, "fallback_after": "15m"})
    (tmp_path / cw_code / "hidden").mkdir(parents=True)
    (tmp_path / cw_code / "rubric.yaml").write_text(yaml.safe_dump(rubric.model_dump(mode="json", exclude_none=True)))

    moved = threading.Event()
    settings = Settings(database_url=pg_url, sweep_interval_s=3600, rubrics_dir=tmp_path, fallback_after_s=0)
    thread = SweeperThread(settings, lambda rid, q, c: moved.set() if (rid, q) == (run_id, "cpu") else None)
    thread.start()
    try:
        assert moved.wait(10), "the run did not move within 10 s (the sweep interval is an hour)"
    finally:
        thread.stop()
        thread.join(5)
    with sessions() as s:
        run = s.get_one(GradingRun, run_id)
        assert (run.queue, run.fallback_from) == ("cpu", "gpu")
    empty_tables(engine)
