"""The embedded default: a regrade preview on SQLite, staged run beside a live ordinary one (the
live-run index with ``staged``), applied, and read back as applied."""

from __future__ import annotations

from pathlib import Path

from gradebook_factory import DEADLINE, RUBRIC, TESTS, add_coursework, add_student, add_user, graded_report, submit
from sqlalchemy import select

from grader.db.engine import make_engine, session_factory
from grader.db.migrate import upgrade
from grader.runs.models import GradingRun, RunStatus
from grader.runs.service import claim_run, complete_run, enqueue_run, latest_graded_run
from grader.scoring.auto import auto_marks
from grader.scoring.outcomes import TestOutcome, TestResult
from grader.submissions import regrade_preview as rp
from grader.submissions.run_queue import NoWakeUps
from grader.users.models import Role

SUITE = "f" * 64


def finish(session, run_id: int, tests, hidden: str | None) -> None:
    lease = claim_run(session=session, run_id=run_id, worker_id="w1")
    report = graded_report()
    report.marks = auto_marks(RUBRIC, tests)
    assert (
        complete_run(session=session, lease=lease, report=report, tests=tests, hidden_digest=hidden) is RunStatus.graded
    )


def test_a_preview_on_sqlite(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            cw, student, lecturer = add_coursework(session), add_student(session), add_user(session, Role.lecturer)
            sub = submit(session, student, cw, DEADLINE)
            finish(session, enqueue_run(session=session, submission_id=sub.id).id, TESTS, cw.hidden_digest)
            preview = rp.start_preview(
                session=session,
                coursework=cw,
                rubric=RUBRIC,
                digests=rp.SuiteDigests(SUITE, cw.rubric_digest),
                lecturer_id=lecturer.id,
                queue="cpu",
                run_queue=NoWakeUps(),
            )
            ordinary = enqueue_run(session=session, submission_id=sub.id)  # live beside the staged one
            staged = session.scalars(select(GradingRun).where(GradingRun.preview_id == preview.id)).one()
            assert ordinary.id != staged.id and staged.staged and not ordinary.staged
            fixed = {**TESTS, "test_a.py::test_pool": TestResult(TestOutcome.passed, 1.0)}
            finish(session, staged.id, fixed, SUITE)
            report = rp.preview_report(session=session, preview=preview, rubric=RUBRIC)
            assert [(r.state, r.diff.delta) for r in report.rows] == [("changed", 2)]
            rp.apply_preview(
                session=session,
                preview=preview,
                rubric=RUBRIC,
                current=rp.SuiteDigests(SUITE, cw.rubric_digest),
                lecturer_id=lecturer.id,
            )
            assert latest_graded_run(session=session, submission_id=sub.id).id == staged.id
            after = rp.preview_report(session=session, preview=preview, rubric=RUBRIC)
            assert [(r.state, r.diff.old, r.diff.new) for r in after.rows] == [("changed", 4, 6)]
    finally:
        engine.dispose()
