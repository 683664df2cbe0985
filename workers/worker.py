"""``grader worker``: a Celery worker on the chosen queues, with the sweeper and the registry heartbeat
(``workers.registry``) as threads beside it."""

from __future__ import annotations

import logging
import os
import socket
import sys
import uuid

from celery import signals

from grader.settings import Settings

log = logging.getLogger(__name__)


def run_worker(
    settings: Settings, queues: list[str], *, concurrency: int = 1, sweep: bool = True, loglevel: str = "INFO"
) -> int:
    from workers.celery_app import QUEUES
    from workers.celery_tasks import make_worker_app
    from workers.dispatch import CeleryRunQueue
    from workers.registry import RegistryHeartbeat
    from workers.sweeper import SweeperThread

    unknown = sorted(set(queues) - set(QUEUES))
    if unknown:
        raise SystemExit(f"unknown queue(s) {', '.join(unknown)}; known: {', '.join(QUEUES)}")
    logging.basicConfig(
        level=loglevel.upper(), format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
    )
    refused = _sandbox_refuses(settings)
    if refused is not None:
        return refused
    app = make_worker_app(settings)  # the tasks grade with these settings, not the environment's
    sweeper: list[SweeperThread] = []
    name = f"grader-{os.getpid()}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
    registry = RegistryHeartbeat(settings, name, queues, concurrency)

    # Started once the pool has forked its children: a thread never crosses a fork.
    def _start_sweeper(**_: object) -> None:
        if not registry.is_alive():  # announced once ready: a queue counts this worker only when it consumes
            registry.start()
        if sweep and not sweeper:
            sweeper.append(SweeperThread(settings, CeleryRunQueue(app=app).wake))
            sweeper[0].start()
            log.info("sweeper: every %ss", settings.sweep_interval_s)

    def _stop_sweeper(**_: object) -> None:
        for thread in sweeper:
            thread.stop()
        if registry.is_alive():
            registry.stop()  # withdrawn: no longer counted on its queues

    signals.worker_ready.connect(_start_sweeper, weak=False)
    signals.worker_shutting_down.connect(_stop_sweeper, weak=False)
    argv = [
        "worker",
        "--queues",
        ",".join(queues),
        "--concurrency",
        str(concurrency),
        "--loglevel",
        loglevel,
        "--hostname",
        name,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    app.worker_main(argv)
    return 0


def _sandbox_refuses(settings: Settings) -> int | None:
    """The start-up self-test (``workers.selftest``): None when the sandbox ran its tiny job, else the
    exit code, after the cause and the fix on stderr. Before Celery starts: a worker that cannot
    grade never takes a run."""
    from workers.selftest import EXIT_CODE, SelfTestFailed, self_test

    if not settings.worker_self_test:
        log.warning("sandbox self-test skipped (GRADER_WORKER_SELF_TEST is off)")
        return None
    try:
        self_test(settings)
    except SelfTestFailed as exc:
        print(f"grader worker: {exc.message}", file=sys.stderr, flush=True)
        return EXIT_CODE
    return None
