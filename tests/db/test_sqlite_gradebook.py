"""The embedded default: on SQLite the guarded UPDATE keeps claims exclusive too."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gradebook_factory import DEADLINE, add_coursework, add_student, graded_report, submit
from sqlalchemy import text

from grader.db.engine import make_engine, session_factory
from grader.db.migrate import upgrade
from grader.runs.models import RunStatus
from grader.runs.service import claim_next_run, complete_run, enqueue_run


def test_sqlite_claimers_on_separate_connections_never_share_a_run(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    try:
        with sessions() as setup:
            assert setup.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert setup.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            cw, student = add_coursework(setup), add_student(setup)
            subs = [submit(setup, student, cw, DEADLINE + dt.timedelta(seconds=i)) for i in range(30)]
            ids = [enqueue_run(session=setup, submission_id=s.id).id for s in subs]
        workers = 4
        start = threading.Barrier(workers)

        def drain(worker: int) -> list[int]:
            got = []
            with sessions() as session:
                start.wait()
                while lease := claim_next_run(session=session, worker_id=f"w{worker}"):
                    got.append(lease.run_id)
                    # Completing here interleaves writes of another kind with the claims.
                    assert complete_run(session=session, lease=lease, report=graded_report()) is RunStatus.graded
            return got

        with ThreadPoolExecutor(workers) as pool:
            claimed = [run for got in pool.map(drain, range(workers)) for run in got]
        assert sorted(claimed) == sorted(ids)
    finally:
        engine.dispose()
