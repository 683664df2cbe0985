"""Waking a worker for a queued run: ``CeleryRunQueue`` sends ``grader.grade_run(run_id)`` to a broker queue.

It is the worker side's ``RunQueue`` (``grader.submissions.run_queue``): the API gets one from its
composition root and calls ``wake`` after committing the run; the worker uses one for its retries
and its sweeper. The gradebook is the queue of record; this only carries the wake-up. A lost
wake-up costs time, never a submission: the sweeper re-wakes runs that wait too long.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from grader.runs.models import RunKind
from grader.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

RETRY_BASE_S = 10  # first retry after an infrastructure failure; doubles per attempt
RETRY_MAX_S = 600

Wake = Callable[[int, str, float | None], None]  # (run id, broker queue, countdown s): a worker's wake-up


def retry_countdown_s(attempt: int) -> int:
    """How long a run waits before its ``attempt``-th retry is woken (exponential, capped)."""
    return min(RETRY_MAX_S, RETRY_BASE_S * 2 ** max(0, attempt - 1))


def broker_queue(kind: RunKind | str, queue: str) -> str:
    """The broker queue that wakes a run: pre-checks go ahead of full grading."""
    return "precheck" if RunKind(kind) == RunKind.precheck else queue


class CeleryRunQueue:
    """Wake-ups over Celery, on the broker of ``settings`` (or of a worker's own ``app``).

    Given settings, the Celery app is built on the first wake-up, not before: the API does not
    load Celery to start.
    """

    def __init__(self, settings: Settings | None = None, *, app: Celery | None = None):
        if (settings is None) == (app is None):
            raise ValueError("CeleryRunQueue needs either settings or a Celery app")
        self._settings, self._app = settings, app
        self._lock = threading.Lock()  # requests in threads: build the app once

    def wake(self, run_id: int, queue: str, countdown: float | None = None) -> None:
        """Send ``grader.grade_run(run_id)`` to ``queue``, due after ``countdown`` seconds if given."""
        from workers.celery_app import GRADE_RUN

        self._celery().send_task(GRADE_RUN, args=(run_id,), queue=queue, countdown=countdown)

    def _celery(self) -> Celery:
        with self._lock:
            if self._app is None:
                from workers.celery_app import make_app

                assert self._settings is not None  # the constructor's check
                self._app = make_app(self._settings)
            return self._app
