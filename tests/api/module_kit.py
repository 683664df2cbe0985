"""Two assessed courseworks (CW1 40 %, CW2 60 %) and a gradebook built in code for the module-mark
tests: students, submissions at chosen times, runs completed as a worker would, markers' marks
through the API. No notebook is graded."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework
from grader.grading.report import GradeReport
from grader.roster.models import Student
from grader.rubrics.model import Rubric
from grader.runs.service import claim_run, complete_run, enqueue_run
from grader.scoring.auto import auto_marks
from grader.scoring.outcomes import TestOutcome, TestResult
from grader.submissions.models import Submission
from grader.submissions.service import record_submission
from grader.users.models import Role
from grader.users.passwords import set_password
from grader.users.service import create_token, create_user, get_user

UTC = dt.UTC
DEADLINE = dt.datetime(2099, 1, 15, 12, 0, tzinfo=UTC)  # 12:00 in London in January is 12:00 UTC
PASSWORD = "correct horse battery"

CW1 = """\
coursework: cw1
title: "CW1: Make machine learning deep"
version: "1"
weight: 0.4
total_points: 20
deadline: 2099-01-15T12:00:00
timezone: Europe/London
late_policy: {grace_minutes: 0, per_day_fraction: 0.1, max_days: 7}
submission: {notebook: cw1.ipynb, max_mb: 1}
mode: full
resources: {queue: cpu}
parts:
  - {id: p1, title: "Part 1", points: 20}
items:
  - {id: one, part: p1, title: "Layers", points: 10, auto: {tests: ["test_one.py::test_one"], partial: true}, visibility: visible}
  - {id: essay, part: p1, title: "Discussion", points: 10, manual: true}
penalties:
  - {id: lib, title: "Uses the library's own layers", points: 2, auto: {tests: ["test_one.py::test_lib"]}}
"""
CW2 = """\
coursework: cw2
title: "CW2: Generative models"
version: "1"
weight: 0.6
total_points: 50
deadline: 2099-01-15T12:00:00
timezone: Europe/London
late_policy: {grace_minutes: 0, per_day_fraction: 0.1, max_days: 7}
submission: {notebook: cw2.ipynb, max_mb: 1}
mode: full
resources: {queue: cpu}
parts:
  - {id: p1, title: "Part 1", points: 50}
items:
  - {id: two, part: p1, title: "VAE", points: 30, auto: {tests: ["test_two.py::test_two"], partial: true}, visibility: visible}
  - {id: report, part: p1, title: "Report", points: 20, manual: true}
"""


def module_rubrics(root: Path) -> Path:
    for code, text, tests in (
        ("cw1", CW1, "def test_one():\n    pass\n\n\ndef test_lib():\n    pass\n"),
        ("cw2", CW2, "def test_two():\n    pass\n"),
    ):
        (root / code / "hidden").mkdir(parents=True)
        (root / code / "rubric.yaml").write_text(text)
        (root / code / "hidden" / f"test_{'one' if code == 'cw1' else 'two'}.py").write_text(tests)
    return root


def add_student(session: Session, external_id: str, name: str, *, login: bool = False) -> Student:
    user_id = None
    if login:
        user = create_user(session=session, username=external_id, role=Role.student, name=name)
        set_password(session=session, user=user, password=PASSWORD)
        user_id = user.id
    student = Student(external_id=external_id, name=name, email=f"{external_id}@example.ac.uk", user_id=user_id)
    session.add(student)
    session.commit()
    return student


def lecturer(session: Session, username: str = "lee") -> tuple[int, dict[str, str]]:
    user = create_user(session=session, username=username, role=Role.lecturer, name="Lee")
    set_password(session=session, user=user, password=PASSWORD)
    secret, _ = create_token(session=session, user=user)
    return user.id, {"Authorization": f"Bearer {secret}"}


def token_for(session: Session, username: str) -> dict[str, str]:
    user = get_user(session=session, username=username)
    assert user is not None
    secret, _ = create_token(session=session, user=user)
    return {"Authorization": f"Bearer {secret}"}


def submit(session: Session, student: Student, code: str, at: dt.datetime) -> Submission:
    cw = session.query(Coursework).filter_by(code=code).one()
    digest = hashlib.sha256(f"{student.external_id}/{code}/{at.isoformat()}".encode()).hexdigest()
    sub, _ = record_submission(
        session=session,
        coursework_id=cw.id,
        student_id=student.id,
        sha256=digest,
        size_bytes=100,
        original_filename=f"{code}.ipynb",
        blob_key=digest,
        now=at,
    )
    return sub


def grade(session: Session, rubric: Rubric, sub: Submission, fractions: dict[str, float]) -> None:
    """Complete a run of ``sub`` with these test fractions (1.0 passes; 0.0 fails, which applies a penalty)."""
    tests = {
        name: TestResult(TestOutcome.passed if f >= 1.0 else TestOutcome.failed, f, "" if f >= 1.0 else "not quite")
        for name, f in fractions.items()
    }
    run = enqueue_run(session=session, submission_id=sub.id, queue="cpu")
    lease = claim_run(session=session, run_id=run.id, worker_id="module-test")
    assert lease is not None
    report = GradeReport(
        coursework=rubric.coursework,
        status="graded",
        max_score=rubric.total_points,
        auto_max_score=rubric.auto_max_score,
        duration_s=1.0,
        marks=auto_marks(rubric, tests),
    )
    complete_run(session=session, lease=lease, report=report, tests=tests)


def mark(client: TestClient, headers: dict[str, str], sub: Submission, item: str, score: float) -> None:
    r = client.put(
        f"/api/v1/submissions/{sub.id}/marks/{item}",
        headers=headers,
        json={"score": score, "comment": "", "expected_version": None},
    )
    assert r.status_code == 200, r.text


CSRF = re.compile(r'(?:name="csrf-token" content|name="csrf_token" value)="([^"]+)"')


def sign_in(app, username: str) -> tuple[TestClient, str]:
    """A dashboard session (cookies) for ``username``, and its CSRF token."""
    browser = TestClient(app, base_url="http://127.0.0.1")
    form = browser.get("/login")
    token = CSRF.search(form.text)
    assert token, form.text
    r = browser.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/", "csrf_token": token[1]},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page_token = CSRF.search(browser.get("/").text)
    assert page_token
    return browser, page_token[1]
