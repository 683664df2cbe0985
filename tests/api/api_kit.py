"""Files and graded runs built in code for the API tests."""

from __future__ import annotations

import io
import uuid
import zipfile

import nbformat
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from grader.grading.report import GradeReport
from grader.rubrics.model import Rubric
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.runs.service import claim_run, complete_run
from grader.scoring.auto import auto_marks
from grader.scoring.outcomes import TestOutcome, TestResult


def notebook(text: str = "print('hello')") -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(text))
    return nbformat.writes(nb).encode()


def zipped(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def upload(client, headers, data: bytes, name: str = "cwa.ipynb", key: str | None = None, cw: str = "cwa"):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post(
        f"/api/v1/courseworks/{cw}/submissions",
        headers={**headers, **extra},
        files={"file": (name, data, "application/octet-stream")},
    )


TESTS = {
    "test_a.py::test_shown": TestResult(TestOutcome.failed, 0.4, "shape (3, 3) expected, got (3, 4)"),
    "test_a.py::test_later": TestResult(TestOutcome.failed, 0.0, "later: wrong values"),
    "test_a.py::test_secret": TestResult(TestOutcome.failed, 0.6, "secret: hidden expected [1, 2]"),
}


def grade(sessions: sessionmaker[Session], rubric: Rubric, submission_id: str) -> int:
    """Grade a submission's queued full run as a worker would: claim it, complete it with a report."""
    with sessions() as session:
        run_id = session.scalars(
            select(GradingRun.id).where(
                GradingRun.submission_id == uuid.UUID(submission_id),
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
            marks=auto_marks(rubric, TESTS),
        )
        assert complete_run(session=session, lease=lease, report=report, tests=TESTS) is RunStatus.graded
        return run_id
