"""Rows and grading reports built in code for the gradebook tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools

from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework
from grader.grading.report import GradeReport
from grader.roster.models import Student
from grader.rubrics.model import Rubric
from grader.scoring.auto import auto_marks
from grader.scoring.outcomes import TestOutcome, TestResult
from grader.submissions.models import Submission
from grader.submissions.service import record_submission
from grader.users.models import Role, User

UTC = dt.UTC
DEADLINE = dt.datetime(2026, 2, 13, 19, 0, tzinfo=UTC)  # CW1's: 19:00 GMT
_ids = itertools.count(1)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def add_user(session: Session, role: Role = Role.lecturer) -> User:
    n = next(_ids)
    user = User(username=f"{role.value}{n}", name=f"{role.value.title()} {n}", role=role)
    session.add(user)
    session.flush()
    return user


def add_student(session: Session) -> Student:
    n = next(_ids)
    student = Student(external_id=f"ext{n:05d}", name=f"Student {n}", email=f"s{n}@example.ac.uk")
    session.add(student)
    session.flush()
    return student


def add_coursework(session: Session, deadline: dt.datetime | None = DEADLINE) -> Coursework:
    n = next(_ids)
    cw = Coursework(
        code=f"cw{n}",
        title=f"Coursework {n}",
        weight=0.4,
        rubric_version="1",
        rubric_digest=sha(f"rubric{n}"),
        hidden_digest=sha(f"hidden{n}"),
        deadline=deadline,
        timezone="Europe/London",
    )
    session.add(cw)
    session.flush()
    return cw


def submit(
    session: Session,
    student: Student,
    coursework: Coursework,
    at: dt.datetime,
    *,
    content: str | None = None,
    key: str | None = None,
    stated: dt.datetime | None = None,
) -> Submission:
    digest = sha(content if content is not None else f"{student.id}@{at.isoformat()}")
    submission, _ = record_submission(
        session=session,
        coursework_id=coursework.id,
        student_id=student.id,
        sha256=digest,
        size_bytes=1234,
        original_filename="cw1.ipynb",
        blob_key=digest,
        idempotency_key=key,
        stated_received_at=stated,
        now=at,
    )
    return submission


RUBRIC = Rubric.model_validate(
    {
        "coursework": "cwx",
        "title": "Test coursework",
        "weight": 0.4,
        "total_points": 10,
        "submission": {"notebook": "cwx.ipynb"},
        "mode": "full",
        "parts": [{"id": "1", "title": "Layers", "points": 6}, {"id": "2", "title": "Discussion", "points": 4}],
        "items": [
            {"id": "conv", "part": "1", "title": "Conv", "points": 4, "auto": {"tests": ["test_a.py::test_conv"]}},
            {"id": "pool", "part": "1", "title": "Pool", "points": 2, "auto": {"tests": ["test_a.py::test_pool"]}},
            {"id": "disc", "part": "2", "title": "Discussion", "points": 4, "manual": True},
        ],
        "penalties": [
            {"id": "lib", "title": "library layers", "points": 3, "auto": {"tests": ["test_rules.py::test_no_library"]}}
        ],
    }
)

TESTS = {
    "test_a.py::test_conv": TestResult(TestOutcome.passed, 1.0, duration_s=0.2),
    "test_a.py::test_pool": TestResult(TestOutcome.failed, 0.0, "wrong shape", 0.1),
    "test_rules.py::test_no_library": TestResult(TestOutcome.passed, 1.0),
}


def graded_report() -> GradeReport:
    """conv passes (4), pool fails (0), discussion awaits a marker: 4 of 6 auto points."""
    return GradeReport(
        coursework="cwx",
        status="graded",
        max_score=10,
        auto_max_score=6,
        duration_s=3.5,
        marks=auto_marks(RUBRIC, TESTS),
        seed=1234,
        execution={"cells": 5},
        sandbox={"rc": 0},
    )


def infrastructure_error() -> GradeReport:
    return GradeReport(
        coursework="cwx",
        status="error",
        max_score=10,
        auto_max_score=6,
        error="the judge exited with -9",
        error_kind="infrastructure",
    )
