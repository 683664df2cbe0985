"""Waking a worker for a queued grading run: the API calls ``wake`` after committing the run.

The gradebook is the queue of record; this only carries the wake-up. A lost wake-up costs time,
never a submission: the sweeper re-wakes runs that wait too long.
"""

from __future__ import annotations


def wake(run_id: int, queue: str) -> None:
    """Send ``grader.grade_run(run_id)`` to a broker queue (``cpu``, ``gpu`` or ``precheck``)."""
    from workers.tasks import grade_run  # Celery loads on the first wake-up, not on import

    grade_run.apply_async((run_id,), queue=queue)
