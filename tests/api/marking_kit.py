"""A coursework with every kind of item and an automatic penalty, for the marking API tests.

conftest's ``cwa`` has no penalty and no suggested item; a test module that needs them overrides
its ``rubrics_dir`` fixture with ``marking_rubrics``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from grader.grading.report import GradeReport
from grader.rubrics.model import Rubric
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.runs.service import claim_run, complete_run
from grader.scoring.auto import auto_marks
from grader.scoring.outcomes import TestOutcome, TestResult

RUBRIC = """\
coursework: cwa
title: "CW A: a test coursework"
version: "1"
weight: 0.4
total_points: 25
deadline: 2099-01-15T12:00:00
timezone: Europe/London
late_policy: {grace_minutes: 0, per_day_fraction: 0.1, max_days: 7}
submission: {notebook: cwa.ipynb, max_mb: 1}
mode: full
resources: {queue: cpu}
parts:
  - {id: p1, title: "Part 1", points: 25}
items:
  - {id: shown, part: p1, title: "Shown item", points: 5, auto: {tests: ["test_a.py::test_shown"]}, visibility: visible}
  - {id: later, part: p1, title: "Later item", points: 5, auto: {tests: ["test_a.py::test_later"]}, visibility: after_release}
  - {id: secret, part: p1, title: "Secret item", points: 5, auto: {tests: ["test_a.py::test_secret"]}, visibility: hidden}
  - {id: essay, part: p1, title: "Essay", points: 5, manual: true, visibility: visible}
  - {id: tidy, part: p1, title: "Tidy plots", points: 5, suggest: {tests: ["test_a.py::test_tidy"], partial: true}}
penalties:
  - {id: layers, title: "Uses the library's own layers", points: 2, auto: {tests: ["test_a.py::test_layers"]}}
"""

# shown 2/5, later 0/5, secret 3/5 (auto 5); tidy suggested 4/5; the layers penalty applies (failed).
TESTS = {
    "test_a.py::test_shown": TestResult(TestOutcome.failed, 0.4, "shape (3, 3) expected, got (3, 4)"),
    "test_a.py::test_later": TestResult(TestOutcome.failed, 0.0, "later: wrong values"),
    "test_a.py::test_secret": TestResult(TestOutcome.failed, 0.6, "secret: hidden expected [1, 2]"),
    "test_a.py::test_tidy": TestResult(TestOutcome.failed, 0.8, "one unlabelled axis"),
    "test_a.py::test_layers": TestResult(TestOutcome.failed, 0.0, "nn.Conv2d used in Net"),
}


def marking_rubrics(root: Path) -> Path:
    (root / "cwa" / "hidden").mkdir(parents=True)
    (root / "cwa" / "rubric.yaml").write_text(RUBRIC)
    (root / "cwa" / "hidden" / "test_a.py").write_text("def test_shown():\n    pass\n")
    return root


def grade_with(
    sessions: sessionmaker[Session], rubric: Rubric, submission_id: str, tests: Mapping[str, TestResult] = TESTS
) -> int:
    """Complete the submission's queued full run with these test results, as a worker would."""
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
            marks=auto_marks(rubric, tests),
        )
        assert (
            complete_run(session=session, lease=lease, report=report, tests=dict(tests), log="ran 5 tests")
            is RunStatus.graded
        )
        return run_id
