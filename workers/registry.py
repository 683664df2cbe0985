"""The worker's side of the registry: a thread that announces this worker (host, pid, queues,
concurrency) and keeps announcing it, a heartbeat, until the worker stops and withdraws it.

A worker that dies without withdrawing simply stops beating, and after ``LIVE_FOR_S`` it is not
live (``grader.runs.registry``): queue ETAs stop counting its slots, and a queue it alone served is
reported as having work and no worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Collection

from grader.runs.registry import BEAT_EVERY_S, announce, forget_vanished, withdraw
from grader.settings import Settings
from workers.gradebook import sessions_for

log = logging.getLogger(__name__)


class RegistryHeartbeat(threading.Thread):
    def __init__(
        self,
        settings: Settings,
        name: str,
        queues: Collection[str],
        concurrency: int,
        every_s: float = BEAT_EVERY_S,
    ):
        super().__init__(name="grader-registry", daemon=True)
        self.settings, self.worker_name = settings, name
        self.queues, self.concurrency, self.every_s = sorted(queues), concurrency, every_s
        self._stop_event = threading.Event()

    def beat(self) -> None:
        with sessions_for(self.settings)() as session:
            announce(
                session=session,
                name=self.worker_name,
                host=socket.gethostname(),
                pid=os.getpid(),
                queues=self.queues,
                concurrency=self.concurrency,
            )
            forget_vanished(session=session)

    def run(self) -> None:
        while True:
            try:
                self.beat()
            except Exception:  # the database is away: beat again; missing beats only make us look gone
                log.warning("registry: heartbeat failed, retrying", exc_info=True)
            if self._stop_event.wait(self.every_s):
                return

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
        try:
            with sessions_for(self.settings)() as session:
                withdraw(session=session, name=self.worker_name)
        except Exception:  # it will look gone after LIVE_FOR_S anyway
            log.warning("registry: could not withdraw %s", self.worker_name, exc_info=True)
