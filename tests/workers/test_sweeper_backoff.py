"""The sweeper leaves a retry's backoff alone, however long the failed attempt ran.

A run that failed for a reason of ours is woken again after ``retry_countdown_s`` by a wake-up with
a countdown. The sweeper re-wakes queued runs whose wake-up was lost, but a retry's wait counts from
the failure, not from the claim of the failed attempt: otherwise an attempt that ran for a while
before failing (a blob store lost mid-job) is re-woken at once, and a host that fails every run
takes the retry again and burns the run's attempts.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from gradebook_factory import add_coursework, add_student, submit
from pg_database import empty_tables
from sqlalchemy import Engine, update

from grader.db.clock import db_now
from grader.db.engine import session_factory
from grader.runs.models import GradingRun, RunStatus
from grader.runs.service import claim_run, enqueue_run, fail_run
from grader.settings import Settings
from workers.dispatch import retry_countdown_s
from workers.sweeper import STALE_QUEUED_SWEEPS, Sweeper


def test_a_retry_is_not_woken_before_its_backoff_after_a_long_attempt(pg_url: str, engine: Engine, tmp_path: Path):
    empty_tables(engine)
    sessions = session_factory(engine)
    with sessions() as s:
        cw, student = add_coursework(s), add_student(s)
        now = db_now(s)
        run_id = enqueue_run(session=s, submission_id=submit(s, student, cw, now).id, now=now).id
        s.commit()
        lease = claim_run(session=s, run_id=run_id, worker_id="host-a:1:x", lease_s=10)
        assert lease is not None
        # The attempt ran for a minute (heartbeats kept it), then its blob store went away.
        long_ago = now - dt.timedelta(seconds=60)
        s.execute(update(GradingRun).where(GradingRun.id == run_id).values(enqueued_at=long_ago, started_at=long_ago))
        s.commit()
        assert fail_run(session=s, lease=lease, error="OSError: [Errno 30] Read-only file system") == RunStatus.queued

    woken: list[int] = []
    sweeper = Sweeper(
        Settings(database_url=pg_url, sweep_interval_s=1, rubrics_dir=tmp_path), lambda rid, q, c: woken.append(rid)
    )
    assert sweeper.sweep()["stale"] == [] and woken == []  # the retry's own wake-up is due in 10 s

    # The backoff and the sweeper's patience over since the failure: the wake-up counts as lost.
    patience = retry_countdown_s(1) + STALE_QUEUED_SWEEPS * 1 + 1
    with sessions() as s:
        run = s.get(GradingRun, run_id)
        for name in ("enqueued_at", "started_at", "heartbeat_at"):
            if getattr(run, name) is not None:
                setattr(run, name, getattr(run, name) - dt.timedelta(seconds=patience))
        s.commit()
    assert sweeper.sweep()["stale"] == [run_id] and woken == [run_id]
