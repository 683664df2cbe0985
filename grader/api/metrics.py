"""Prometheus metrics of one app: upload counters, and gauges read from the gradebook at scrape time.

The gauges come from the database (the queue of record), so every API replica reports the same
queue; the counters are this process's own.
"""

from __future__ import annotations

import datetime as dt
import logging

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from grader.db.clock import db_now
from grader.runs.models import GradingRun, RunStatus
from grader.runs.service import oldest_queued_at
from grader.runs.waits import QueueState, queue_states

log = logging.getLogger(__name__)


class _GradebookCollector:
    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions

    def describe(self):
        return []  # collected only at scrape time: no database query at registration

    def collect(self):
        runs = GaugeMetricFamily("grader_runs", "grading runs by status", labels=["status"])
        oldest = GaugeMetricFamily(
            "grader_oldest_waiting_submission_age_seconds",
            "how long the longest-waiting queued run has waited (0: none waiting)",
        )
        try:
            with self.sessions() as session:
                counts = dict(
                    session.execute(select(GradingRun.status, func.count()).group_by(GradingRun.status)).all()
                )
                since = oldest_queued_at(session=session)
                now = db_now(session)
                queues = queue_states(session=session, now=now)
        except Exception:
            log.exception("metrics: the gradebook could not be read")
            return
        for status in RunStatus:
            runs.add_metric([status.value], counts.get(status, 0))
        oldest.add_metric([], max(0.0, (now - since).total_seconds()) if isinstance(since, dt.datetime) else 0.0)
        yield runs
        yield oldest
        yield from _queue_metrics(queues)


def _queue_metrics(queues: list[QueueState]):
    """Per broker queue: its length, what runs, the live workers and their slots, the wait a run
    joining now would have, and whether it holds work that no live worker will take."""
    families = {
        "length": GaugeMetricFamily("grader_queue_length", "queued runs", labels=["queue"]),
        "running": GaugeMetricFamily("grader_queue_running", "runs being graded", labels=["queue"]),
        "workers": GaugeMetricFamily("grader_queue_live_workers", "live workers serving the queue", labels=["queue"]),
        "slots": GaugeMetricFamily("grader_queue_slots", "jobs the live workers grade at once", labels=["queue"]),
        "wait": GaugeMetricFamily(
            "grader_queue_wait_estimate_seconds",
            "estimated seconds from joining the queue now to the result (absent: unknown or no worker)",
            labels=["queue"],
        ),
        "stranded": GaugeMetricFamily(
            "grader_queue_without_worker", "1: runs wait and no live worker serves the queue", labels=["queue"]
        ),
    }
    for q in queues:
        families["length"].add_metric([q.queue], q.queued)
        families["running"].add_metric([q.queue], q.running)
        families["workers"].add_metric([q.queue], q.live_workers)
        families["slots"].add_metric([q.queue], q.slots)
        if q.wait_estimate_s is not None:
            families["wait"].add_metric([q.queue], q.wait_estimate_s)
        families["stranded"].add_metric([q.queue], 1 if q.stranded else 0)
    yield from families.values()


class ApiMetrics:
    def __init__(self, sessions: sessionmaker[Session]):
        self.registry = CollectorRegistry(auto_describe=False)
        self.uploads = Counter(
            "grader_uploads", "submissions received and stored", ["coursework"], registry=self.registry
        )
        self.rejections = Counter(
            "grader_upload_rejections", "uploads refused", ["coursework", "reason"], registry=self.registry
        )
        self.registry.register(_GradebookCollector(sessions))

    def uploaded(self, coursework: str) -> None:
        self.uploads.labels(coursework).inc()

    def rejected(self, coursework: str, reason: str) -> None:
        self.rejections.labels(coursework, reason).inc()
