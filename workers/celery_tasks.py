"""The worker's Celery tasks, registered on an app built from the worker's own settings.

``grader.grade_run(run_id)`` grades one run (``workers.grade_job``); ``grader.sweep`` sweeps once
(``workers.sweeper``; ``grader worker`` runs a sweeper thread instead, ``celery beat`` deployments
schedule this task). Both use the settings of the app they are registered on (``app.settings``),
so a worker grades with the settings it was started with.
"""

from __future__ import annotations

from celery import Task

from grader.settings import Settings
from workers.celery_app import GRADE_RUN, SWEEP, GraderCelery, make_app
from workers.dispatch import CeleryRunQueue
from workers.grade_job import grade_one
from workers.sweeper import Sweeper


def make_worker_app(settings: Settings) -> GraderCelery:
    """The app a worker process runs: ``make_app(settings)`` with the grading tasks on it."""
    return register_tasks(make_app(settings))


def register_tasks(app: GraderCelery) -> GraderCelery:
    # Retries and re-wakes go out through the worker's own app, to the broker it consumes from.
    run_queue = CeleryRunQueue(app=app)

    # shared=False: on this app only (a shared task would join every app the process builds later,
    # with this app's settings).
    @app.task(name=GRADE_RUN, bind=True, acks_late=True, ignore_result=True, shared=False)
    def grade_run(self: Task, run_id: int) -> str:
        queue = (self.request.delivery_info or {}).get("routing_key")
        return grade_one(int(run_id), settings=app.settings, queue=queue, wake_fn=run_queue.wake).status

    @app.task(name=SWEEP, acks_late=True, ignore_result=True, shared=False)
    def sweep() -> dict[str, list[int]]:
        return Sweeper(app.settings, run_queue.wake).sweep()

    return app
