"""``RunQueue``: how the submission flows wake a worker, without knowing the broker behind it.

The worker side implements it (``workers.dispatch.CeleryRunQueue``); the composition roots (the
server, the CLI) pass an implementation in. The gradebook stays the queue of record, so an
implementation may lose a wake-up: the sweeper re-wakes runs that wait too long.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class RunQueue(Protocol):
    def wake(self, run_id: int, queue: str) -> None:
        """Tell a worker of broker queue ``queue`` (``cpu``, ``gpu`` or ``precheck``) that run ``run_id`` waits."""


class NoWakeUps:
    """A ``RunQueue`` with no worker side wired in: queued runs wait for the sweeper's re-wake."""

    def wake(self, run_id: int, queue: str) -> None:
        log.info("run %s queued on %s; no wake-up sent (the sweeper re-wakes it)", run_id, queue)
