"""A warm-up the pool gave up on: end it at once instead of finishing it for nobody.

A warm unit's judge gets its job's path on stdin only once it said it is warm, so an end of file on
stdin while it still warms means the pool discarded it (closed, or moved on to another sandbox key).
``watch_stdin`` sees that; the judge then kills its sandbox as soon as it has one and exits with
``ABANDONED``. Without it, a discarded unit finished its warm-up first: most of a second, and several
seconds for a kernel importing torch, on every pool's close.
"""

from __future__ import annotations

import os
import select
import threading

from workers.sandbox.base import SandboxProcess

from .staging import WARM_ABANDONED

ABANDONED = 3  # the judge's exit code


class WarmUpAbandon:
    """Where the watcher and the warm-up meet: whichever comes second ends the sandbox and the judge."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: SandboxProcess | None = None
        self._abandoned = False

    def started(self, proc: SandboxProcess) -> None:
        """The warm-up's sandbox is up (the warm-up's thread)."""
        with self._lock:
            self._proc = proc
            abandoned = self._abandoned
        if abandoned:
            _end(proc)

    def abandon(self) -> None:
        """The pool gave up on this unit (the watcher's thread)."""
        with self._lock:
            self._abandoned = True
            proc = self._proc
        if proc is not None:
            _end(proc)


def _end(proc: SandboxProcess) -> None:
    proc.kill()  # the whole sandbox, its cgroup removed: nothing of it outlives the judge
    os.write(1, f"{WARM_ABANDONED}\n".encode())
    os._exit(ABANDONED)


def watch_stdin(abandon: WarmUpAbandon, stop_fd: int) -> None:
    """Until ``stop_fd`` is readable (the warm-up is over): stdin's end with nothing to read is the
    pool giving up. A line there (a job) is not ours to read, and ends the watch."""
    poller = select.poll()
    poller.register(0, select.POLLIN)  # POLLHUP and POLLERR are always reported
    poller.register(stop_fd, select.POLLIN)
    while True:
        events = dict(poller.poll())
        if stop_fd in events or events.get(0, 0) & select.POLLIN:
            return
        if events.get(0, 0) & (select.POLLHUP | select.POLLERR):
            abandon.abandon()
            return
