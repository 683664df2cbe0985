"""Celery remote control is off: anyone who can write to the broker could otherwise ping, inspect,
reconfigure or shut down every worker (``celery control shutdown``). A real ``grader worker`` on
Redis answers no broadcast, survives a shutdown broadcast, and still grades a wake-up."""

from __future__ import annotations

import time

import pytest
from worker_kit import World, notebook

from grader.settings import Settings
from workers.celery_app import make_app

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def test_make_app_never_enables_remote_control(tmp_path):
    for broker in ("redis://127.0.0.1:6379/0", "filesystem://"):
        app = make_app(Settings(broker_url=broker, broker_dir=tmp_path / "broker"))
        assert app.conf.worker_enable_remote_control is False


def test_a_worker_ignores_remote_control_and_keeps_grading(world: World):
    worker = world.start_worker()
    app = make_app(
        Settings(broker_url=world.broker_url, broker_dir=world.tmp / "broker", rubrics_dir=world.rubrics_dir)
    )
    try:
        assert app.control.ping(timeout=3) == []  # nobody answers
        assert app.control.inspect(timeout=3).active() is None
        app.control.broadcast("shutdown")
        time.sleep(3)
        assert worker.proc.poll() is None, worker.output()[-3000:]
    finally:
        app.close()
    run_id = world.submit(notebook("return x + 1"))
    world.wake(run_id)
    world.wait_status(run_id, ("graded", "error"), 120)
    world.assert_graded_once(run_id)
