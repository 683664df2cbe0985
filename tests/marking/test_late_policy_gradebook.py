"""The cap policy and "penalty waived" through the gradebook: the marker's sheet and the overview
read the same verdict, from the student's own deadline (extension applied), across the March
clock change."""

from __future__ import annotations

import datetime as dt

from gradebook_factory import RUBRIC, TESTS, add_coursework, add_student, add_user, graded_report, submit
from sqlalchemy.orm import Session

from grader.courseworks import extensions
from grader.marking.overview import coursework_overview
from grader.marking.sheet import marks_of_submission
from grader.rubrics.model import LatePolicy
from grader.runs.service import claim_run, complete_run, enqueue_run
from grader.submissions.models import Submission

UTC = dt.UTC
CAP_RUBRIC = RUBRIC.model_copy(
    update={"late_policy": LatePolicy(kind="cap", cap_fraction=0.3, cap_working_days=2)}
)  # capped at 3 of 10 for two working days, then zero
FRIDAY = dt.datetime(2026, 3, 27, 16, 0, tzinfo=UTC)  # 16:00 GMT; the clocks go forward on Sunday
MONDAY_1630_BST = dt.datetime(2026, 3, 30, 15, 30, tzinfo=UTC)  # day 2 (it began at 16:00 BST)
TUESDAY_1630_BST = dt.datetime(2026, 3, 31, 15, 30, tzinfo=UTC)  # day 3: zero


def _graded(s: Session, sub: Submission) -> None:
    run = enqueue_run(session=s, submission_id=sub.id)
    lease = claim_run(session=s, run_id=run.id, worker_id="w")
    complete_run(session=s, lease=lease, report=graded_report(), tests=TESTS)


def _both(s: Session, cw, sub: Submission) -> tuple[float, str, float, str, float]:
    """(sheet total, sheet label, overview total, overview label, before late) for one submission."""
    s.expire_all()
    sheet = marks_of_submission(session=s, rubric=CAP_RUBRIC, sub=s.get(Submission, sub.id))
    assert sheet.total is not None
    row = next(r for r in coursework_overview(session=s, rubric=CAP_RUBRIC, coursework=cw) if r.submission_id == sub.id)
    return sheet.total.total, sheet.total.lateness.label, row.total, row.late_label, sheet.total.before_late


def test_cap_extension_and_waiver_read_alike_on_the_sheet_and_the_overview(committed):
    with committed() as s:
        cw, lee = add_coursework(s, deadline=FRIDAY), add_user(s)
        ann, ben = add_student(s), add_student(s)
        ann_sub, ben_sub = submit(s, ann, cw, MONDAY_1630_BST), submit(s, ben, cw, TUESDAY_1630_BST)
        s.commit()
        _graded(s, ann_sub)
        _graded(s, ben_sub)

        total, label, row_total, row_label, before = _both(s, cw, ann_sub)
        assert before > 3 and total == row_total == 3 and label == row_label == "late, capped at 30%"
        total, label, row_total, row_label, _ = _both(s, cw, ben_sub)
        assert total == row_total == 0 and label == row_label == "late, mark zero"

        # Ben's extension to Monday 16:00 (BST, a wall time after the change): one working day late.
        extensions.grant(
            session=s, student=ben, coursework=cw, deadline=dt.datetime(2026, 3, 30, 15, 0, tzinfo=UTC), actor_id=lee.id
        )
        total, label, row_total, row_label, _ = _both(s, cw, ben_sub)
        assert total == row_total == 3 and label == row_label == "late, capped at 30%"

        extensions.record_mitigation(session=s, student=ben, coursework=cw, reason="hospital", actor_id=lee.id)
        total, label, row_total, row_label, before = _both(s, cw, ben_sub)
        assert total == row_total == before and label == row_label == "late, penalty waived"
        assert s.get(Submission, ben_sub.id).late_minutes == 24 * 60 + 30  # still recorded as late

        extensions.revoke(session=s, student=ben, coursework=cw, actor_id=lee.id)
        assert s.get(Submission, ben_sub.id).late_minutes == 4 * 24 * 60 - 60 + 30  # 95.5 h after Friday 16:00
