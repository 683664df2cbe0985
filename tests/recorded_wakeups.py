"""A ``RunQueue`` for tests: it records the wake-ups the app sends instead of reaching a broker."""

from __future__ import annotations


class Woken(list[tuple[int, str]]):
    def wake(self, run_id: int, queue: str) -> None:
        self.append((run_id, queue))
