"""Helpers for the dashboard tests: signing in over a TestClient, and graded runs built in code."""

from __future__ import annotations

import functools
import io
import re
import uuid

import nbformat
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from grader.grading.report import GradeReport
from grader.rubrics.model import Rubric
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.runs.service import claim_run, complete_run
from grader.scoring.auto import auto_marks
from grader.scoring.outcomes import TestOutcome, TestResult
from grader.users.models import User
from grader.users.passwords import hash_password

PASSWORD = "correct horse battery"  # every test account's password


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 takes ~0.1 s by design: once per test process, not per account


def give_password(session: Session, user: User) -> None:
    """Give ``user`` the test PASSWORD (commits), as ``set_password`` would, without hashing it again."""
    user.password_hash = _password_hash()
    session.commit()


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


def notebook(text: str = "print('hello')") -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(text))
    return nbformat.writes(nb).encode()


def csrf_of(html: str) -> str:
    tokens = [m[1] for m in (*CSRF_META.finditer(html), *CSRF_FIELD.finditer(html)) if m[1]]
    assert tokens, "no CSRF token in the page"
    return tokens[0]


def sign_in(client, username: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in through the login form; returns the session's CSRF token."""
    client.cookies.clear()
    form = client.get("/login")
    assert form.status_code == 200, form.text
    reply = client.post(
        "/login",
        data={"username": username, "password": password, "next": "/", "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    home = client.get("/")
    assert home.status_code == 200, home.text
    return csrf_of(home.text)


def upload(client, csrf: str, data: bytes, name: str = "cwa.ipynb", cw: str = "cwa", key: str | None = None):
    return client.post(
        f"/courseworks/{cw}/submissions",
        data={"csrf_token": csrf, "upload_key": key or uuid.uuid4().hex},
        files={"file": (name, io.BytesIO(data), "application/octet-stream")},
        follow_redirects=False,
    )


# The hidden tests' results every graded run in these tests gets (rubric CWA in conftest).
TESTS = {
    "test_a.py::test_shown": TestResult(TestOutcome.failed, 0.4, "shape (3, 3) expected, got (3, 4)"),
    "test_a.py::test_later": TestResult(TestOutcome.failed, 0.5, "later: half the values wrong"),
    "test_a.py::test_secret": TestResult(TestOutcome.failed, 0.6, "secret: hidden expected [1, 2]"),
}


def grade(sessions: sessionmaker[Session], rubric: Rubric, submission_id: str | uuid.UUID, tests=None) -> int:
    """Grade a submission's queued full run as a worker would: claim it, complete it with a report."""
    tests = tests or TESTS
    with sessions() as session:
        run_id = session.scalars(
            select(GradingRun.id).where(
                GradingRun.submission_id == uuid.UUID(str(submission_id)),
                GradingRun.kind == RunKind.full,
                GradingRun.status == RunStatus.queued,
            )
        ).one()
        lease = claim_run(session=session, run_id=run_id, worker_id="test-worker")
        assert lease is not None
        report = GradeReport(
            coursework=rubric.coursework,
            status="graded",
            max_score=rubric.total_points,
            auto_max_score=rubric.auto_max_score,
            duration_s=1.0,
            marks=auto_marks(rubric, tests),
        )
        assert complete_run(session=session, lease=lease, report=report, tests=tests) is RunStatus.graded
        return run_id
