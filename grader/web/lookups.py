"""What the dashboard's pages look up: a coursework by code, a student's own submission, and a
submission's grading state as the student may see it. Not found (or not theirs) is ``WebError(404)``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from grader.courseworks.service import coursework_by_code
from grader.http.deps import CourseworkRef
from grader.marking.run_view import precheck_outcome
from grader.marking.sheet import submission_runs
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.submissions.models import Submission
from grader.web.deps import WebError, WebUser


def courseworks(request: Request, session: Session) -> list[CourseworkRef]:
    """Every coursework with a rubric and a gradebook row, by code."""
    refs = []
    for code, files in sorted(request.app.state.courseworks.items()):
        row = coursework_by_code(session=session, code=code)
        if row is not None:
            refs.append(CourseworkRef(row, files))
    return refs


def coursework(request: Request, session: Session, code: str) -> CourseworkRef:
    files = request.app.state.courseworks.get(code)
    row = coursework_by_code(session=session, code=code) if files is not None else None
    if files is None or row is None:
        raise WebError(404, f"there is no coursework {code!r}.")
    return CourseworkRef(row, files)


def own_submission(session: Session, user: WebUser, submission_id: str) -> Submission:
    """The student's own submission. Another student's is 'not found', exactly like a missing one."""
    try:
        key = uuid.UUID(submission_id)
    except ValueError:
        raise WebError(404, "there is no such submission.") from None
    sub = session.get(Submission, key)
    if sub is None or user.student_id is None or sub.student_id != user.student_id:
        raise WebError(404, "there is no such submission.")
    return sub


@dataclass(frozen=True)
class GradingState:
    status: str  # received, queued, running, graded, error, cancelled
    precheck_status: str | None
    precheck_messages: list[str]
    error: str | None  # a submission error the student can fix (never our own failures)
    run: GradingRun | None  # the latest full run

    @property
    def done(self) -> bool:
        return self.status not in ("received", "queued", "running") and self.precheck_status not in (
            "queued",
            "running",
        )


def grading_state(session: Session, sub: Submission) -> GradingState:
    runs = submission_runs(session=session, submission_id=sub.id)  # newest first
    full = next((r for r in runs if r.kind is RunKind.full), None)
    check = next((r for r in runs if r.kind is RunKind.precheck), None)
    pre = precheck_outcome(check) if check is not None else None
    error = (
        full.error if full is not None and full.status is RunStatus.error and full.error_kind == "submission" else None
    )
    return GradingState(
        status=full.status.value if full else "received",
        precheck_status=pre.status if pre else None,
        precheck_messages=pre.messages if pre else [],
        error=error,
        run=full,
    )
