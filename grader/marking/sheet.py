"""A student's marks for a coursework as the gradebook has them, and what the student may see.

``submission_marks`` reads the counting submission, its latest graded run and the markers' marks
and penalty decisions, and totals them with ``grader.scoring.totals.coursework_total``.
``student_view`` filters that by the visibility table of docs/security.md (a pure function):

| item visibility | before release       | after release                            |
| visible         | name, score, message | name, score, message                     |
| after_release   | name only            | name, score, message                     |
| hidden          | nothing              | name and score; never its message        |

Manual items, marker comments and the total appear only after release.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.courseworks.extensions import lateness_of
from grader.courseworks.models import Coursework
from grader.marking.service import decisions_in_force, marks_for_submission, penalty_decisions
from grader.rubrics.model import Rubric
from grader.runs.models import NOT_STAGED, GradingRun
from grader.runs.service import latest_graded_run
from grader.scoring.totals import CourseworkTotal, coursework_total
from grader.submissions.models import Submission
from grader.submissions.service import counting_submission


@dataclass
class SubmissionMarks:
    submission: Submission | None
    run: GradingRun | None  # the latest graded full run of the submission
    total: CourseworkTotal | None  # None: nothing submitted
    comments: dict[str, str] = field(default_factory=dict)  # item id -> the marker's comment

    @property
    def status(self) -> str:
        if self.submission is None:
            return "no_submission"
        return "graded" if self.run is not None else "pending"


def submission_runs(*, session: Session, submission_id: uuid.UUID) -> list[GradingRun]:
    """Every run of a submission, newest first; not a pending (or discarded) regrade preview's staged runs."""
    return list(
        session.scalars(
            select(GradingRun)
            .where(GradingRun.submission_id == submission_id, NOT_STAGED)
            .order_by(GradingRun.id.desc())
        )
    )


def submission_marks(*, session: Session, rubric: Rubric, coursework: Coursework, student_id: int) -> SubmissionMarks:
    sub = counting_submission(
        session=session,
        student_id=student_id,
        coursework_id=coursework.id,
        grace_minutes=rubric.late_policy.grace_minutes,
    )
    if sub is None:
        return SubmissionMarks(None, None, None)
    return marks_of_submission(session=session, rubric=rubric, sub=sub)


def marks_of_submission(*, session: Session, rubric: Rubric, sub: Submission) -> SubmissionMarks:
    """One submission's marks and total, whether or not it is the one that counts (the marker's view)."""
    return marks_with_run(
        session=session, rubric=rubric, sub=sub, run=latest_graded_run(session=session, submission_id=sub.id)
    )


def marks_with_run(*, session: Session, rubric: Rubric, sub: Submission, run: GradingRun | None) -> SubmissionMarks:
    """The submission's marks were ``run`` its current run (a regrade preview's staged run, say):
    the markers' marks, overrides and penalty decisions stand whichever run is read."""
    student_id, coursework_id = sub.student_id, sub.coursework_id
    item_ids = {i.id for i in rubric.items}
    penalty_ids = {p.id for p in rubric.penalties}
    # Rows for ids the rubric no longer has (a renamed item) are left out rather than failing the sheet.
    auto = {i.item_id: i.score for i in (run.items if run else []) if i.kind == "auto" and i.item_id in item_ids}
    auto_penalties = {p.penalty_id for p in (run.penalties if run else []) if p.applied and p.penalty_id in penalty_ids}
    manual = marks_for_submission(
        session=session, submission_id=sub.id, student_id=student_id, coursework_id=coursework_id
    )
    marker = {k: m.score for k, m in manual.items() if m.score is not None and k in item_ids}
    in_force = decisions_in_force(penalty_decisions(session=session, submission=sub))
    decisions = {k: d.applied for k, d in in_force.items() if k in penalty_ids}
    total = coursework_total(
        rubric, auto, marker, auto_penalties, decisions, lateness_of(session=session, rubric=rubric, sub=sub)
    )
    comments = {k: m.comment for k, m in manual.items() if m.comment}
    return SubmissionMarks(sub, run, total, comments)


def student_view(rubric: Rubric, marks: SubmissionMarks, released: bool) -> dict[str, Any]:
    """What the student may see of their marks. Absent keys are withheld, not zero."""
    view: dict[str, Any] = {
        "coursework": rubric.coursework,
        "released": released,
        "status": marks.status,
        "items": [],
        "penalties": [],
    }
    if marks.submission is not None:
        view["submission_id"] = str(marks.submission.id)
    run_items = {i.item_id: i for i in (marks.run.items if marks.run else [])}
    run_penalties = {p.penalty_id: p for p in (marks.run.penalties if marks.run else [])}
    lines = {line.id: line for line in (marks.total.items if marks.total else [])}
    for item in rubric.items:
        vis = item.visibility.value
        entry: dict[str, Any] = {"id": item.id, "title": item.title}
        run_item = run_items.get(item.id)
        if not released:
            if vis == "hidden" or item.kind != "auto":
                continue  # hidden items, manual and suggested items: nothing before release
            if vis == "visible" and run_item is not None:
                entry.update(score=run_item.score, max_score=item.points, message=run_item.message)
        else:
            line = lines.get(item.id)
            if line is not None:
                entry.update(score=line.score, max_score=item.points)
            if vis != "hidden":
                if run_item is not None and item.kind == "auto":
                    entry["message"] = run_item.message
                if item.id in marks.comments:
                    entry["comment"] = marks.comments[item.id]
        view["items"].append(entry)
    applied = {p.id: p for p in (marks.total.penalties if marks.total else [])}
    for penalty in rubric.penalties:
        vis = penalty.visibility.value
        entry = {"id": penalty.id, "title": penalty.title}
        run_penalty = run_penalties.get(penalty.id)
        if not released:
            if vis == "hidden":
                continue
            if vis == "visible" and run_penalty is not None:
                entry.update(applied=run_penalty.applied, points=penalty.points, message=run_penalty.message)
        else:
            decided = applied.get(penalty.id)
            if decided is not None:
                entry.update(applied=decided.applied, points=penalty.points)
            if vis != "hidden" and run_penalty is not None:
                entry["message"] = run_penalty.message
        view["penalties"].append(entry)
    if released and marks.total is not None:
        view.update(
            total=marks.total.total,
            max_score=marks.total.max_score,
            late_minutes=marks.total.lateness.minutes,
            notes=list(marks.total.notes),
            complete=marks.total.complete,
        )
    return view
