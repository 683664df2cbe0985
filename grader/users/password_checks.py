"""``PasswordCheckGate``: at most N password checks at once in this process.

Each argon2 check costs 64 MiB and a CPU core for a fraction of a second, so a burst of sign-ins
(or guesses from many addresses, which per-account throttling does not slow) could otherwise take
every core and a lot of memory. A check waits ``wait_s`` for a free slot; after that the caller
answers "busy, try again" instead of queueing without bound. A threading semaphore, because the
checks run in the threadpool; the bound is per API process (each replica has its own CPUs).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class PasswordChecksBusy(Exception):
    """Every slot stayed taken for the whole wait."""


class PasswordCheckGate:
    def __init__(self, slots: int, wait_s: float):
        self.slots = slots
        self.wait_s = wait_s
        self._semaphore = threading.BoundedSemaphore(slots)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the body; raise ``PasswordChecksBusy`` when none frees in time."""
        if not self._semaphore.acquire(timeout=self.wait_s):
            raise PasswordChecksBusy("too many sign-ins are being checked at this moment")
        try:
            yield
        finally:
            self._semaphore.release()
