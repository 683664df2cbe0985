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
        except Exception:
            log.exception("metrics: the gradebook could not be read")
            return
        for status in RunStatus:
            runs.add_metric([status.value], counts.get(status, 0))
        oldest.add_metric([], max(0.0, (now - since).total_seconds()) if isinstance(since, dt.datetime) else 0.0)
        yield runs
        yield oldest


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
