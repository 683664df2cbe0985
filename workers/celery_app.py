"""The Celery app factory: ``make_app(settings)``. The app only carries wake-ups ("grade run 42");
the gradebook is the queue of record.

Redis in production (``GRADER_BROKER_URL=redis://...``), kombu's filesystem transport (in
``settings.broker_dir``) as the embedded default, which needs no server. Neither is trusted to keep
a message: the filesystem transport drops a message when it is fetched and the Redis here keeps
nothing on disk, so the sweeper (``workers.sweeper``) puts back whatever a broker loses.

Tasks are acknowledged late (after the job), one at a time per worker process (prefetch 1), and a
task whose worker process died is rejected back to the broker. Redis redelivers an unacknowledged
task only after its visibility timeout; it is set above the longest job so that Redis never hands a
job still in progress to a second worker (and if it ever did, the lease turns the copy away).

Importing this module builds nothing: each process builds its app from its own settings (the worker
through ``workers.celery_tasks.make_worker_app``, a sender through ``workers.dispatch``). Only
Celery's own command line (``celery -A workers.celery_app worker|beat``) asks for ``app``, which is
then built from the environment's settings.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from grader.grading.pipeline import JUDGE_GRACE_S
from grader.rubrics.loader import RubricError, parse_rubric
from grader.settings import Settings

GRADE_RUN, SWEEP = "grader.grade_run", "grader.sweep"  # task names: the messages in flight carry them
QUEUES = ("precheck", "cpu", "gpu")  # precheck: quick checks, served ahead of full grading
VISIBILITY_MARGIN_S = 600  # fetching, staging, writing results, a slow database


def longest_job_s(settings: Settings) -> int:
    """The longest a grading job can take: the largest wall time of any rubric (or the settings'),
    plus the judge's grace."""
    walls = [settings.sandbox.wall_time_s]
    if settings.rubrics_dir.is_dir():
        for path in sorted(settings.rubrics_dir.glob("*/rubric.yaml")):
            try:
                time_s = parse_rubric(path).resources.time_s
            except RubricError:
                continue  # a broken rubric cannot grade anything; `grader rubric check` reports it
            if time_s is not None:
                walls.append(int(time_s))
    return max(walls) + JUDGE_GRACE_S


def visibility_timeout_s(settings: Settings) -> int:
    return longest_job_s(settings) + 2 * settings.lease_s + VISIBILITY_MARGIN_S


class GraderCelery(Celery):
    """A Celery app that knows the settings it was built from: its tasks read them (``self.app.settings``)."""

    def __init__(self, settings: Settings, **kwargs: Any):
        super().__init__(**{"main": "grader", "broker": settings.broker_url, **kwargs})
        self.settings = settings

    def __reduce_keys__(self) -> dict[str, Any]:
        # Celery rebuilds a pickled app as cls(**keys): the settings travel with it.
        return {**super().__reduce_keys__(), "settings": self.settings}


def make_app(settings: Settings) -> GraderCelery:
    """The app, configured for ``settings``' broker (creating the filesystem broker's folders); no
    tasks: enough to send wake-ups. A worker adds its tasks (``workers.celery_tasks``)."""
    app = GraderCelery(settings)
    options: dict[str, object] = {"visibility_timeout": visibility_timeout_s(settings)}
    if settings.broker_url.startswith("filesystem"):
        folder = settings.broker_dir / "messages"
        folder.mkdir(parents=True, exist_ok=True)
        options.update(
            data_folder_in=str(folder), data_folder_out=str(folder), control_folder=str(settings.broker_dir / "control")
        )
        (settings.broker_dir / "control").mkdir(parents=True, exist_ok=True)
    if settings.broker_url.startswith("redis://"):
        app.conf.broker_transport = "workers.broker:RedisTransport"  # survives a Redis restart
    exchange = Exchange("grader", type="direct")
    app.conf.update(
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        task_queues=[Queue(q, exchange, routing_key=q) for q in QUEUES],
        task_default_queue="cpu",
        task_default_exchange="grader",
        task_default_routing_key="cpu",
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        # No remote control: whoever can write to the broker could otherwise inspect, reconfigure or
        # shut down every worker. Nothing here needs it (the gradebook and the sweeper do the rest).
        # No events either.
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        # For deployments that run `celery beat`; `grader worker` runs the sweeper as a thread instead.
        beat_schedule={"grader-sweep": {"task": SWEEP, "schedule": float(settings.sweep_interval_s)}},
    )
    return app


def __getattr__(name: str) -> Celery:
    # For Celery's command line only (``celery -A workers.celery_app``): it looks up ``app`` here.
    if name == "app":
        from grader.settings import get_settings
        from workers.celery_tasks import make_worker_app

        return make_worker_app(get_settings())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
