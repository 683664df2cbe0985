"""The embedded default (SQLite, no Redis): the upload limit and the sign-in throttle hold there
too, with parallel callers on separate connections."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gradebook_factory import add_coursework, add_student
from sqlalchemy import func, select

from grader.db.engine import make_engine, session_factory
from grader.db.migrate import upgrade
from grader.submissions.quota import RateLimited, count_upload_attempt
from grader.submissions.quota_models import UploadAttempt
from grader.users.sign_in_throttle import SignInLimits, SignInThrottled, begin_sign_in
from grader.users.throttle_models import SignInFailure


def _gradebook(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    upgrade(url)
    return make_engine(url)


def test_parallel_upload_attempts_on_sqlite_never_pass_the_limit_together(tmp_path: Path):
    engine = _gradebook(tmp_path)
    sessions = session_factory(engine)
    try:
        with sessions() as setup:
            cw, student = add_coursework(setup), add_student(setup)
            cw_id, student_id = cw.id, student.id
            setup.commit()
        start = threading.Barrier(8)

        def attempt(_: int) -> bool:
            with sessions() as session:
                start.wait()
                try:
                    count_upload_attempt(session=session, student_id=student_id, coursework_id=cw_id, per_hour=3)
                    return True
                except RateLimited:
                    return False

        with ThreadPoolExecutor(8) as pool:
            admitted = list(pool.map(attempt, range(8)))
        assert admitted.count(True) == 3, admitted
        with sessions() as check:
            assert check.scalar(select(func.count(UploadAttempt.id))) == 3
    finally:
        engine.dispose()


def test_parallel_sign_in_failures_on_sqlite_never_pass_the_allowance(tmp_path: Path):
    engine = _gradebook(tmp_path)
    sessions = session_factory(engine)
    limits = SignInLimits(window=dt.timedelta(minutes=15), per_account=3, per_address=100)
    try:
        start = threading.Barrier(8)

        def attempt(n: int) -> bool:
            with sessions() as session:
                start.wait()
                try:
                    begin_sign_in(session=session, username="alice", address=f"10.0.0.{n}", limits=limits)
                    return True
                except SignInThrottled:
                    return False

        with ThreadPoolExecutor(8) as pool:
            passed = list(pool.map(attempt, range(8)))
        assert passed.count(True) <= 3, passed
        with sessions() as check:
            assert check.scalar(select(func.count(SignInFailure.id))) == passed.count(True)
    finally:
        engine.dispose()
