"""Where a coursework's grading stands: the latest full run of each of its submissions, counted by
status, for the lecturer's progress bar after a regrade."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.runs.models import NOT_STAGED, GradingRun, RunKind
from grader.submissions.models import Submission


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]  # run status -> submissions whose latest full run has it
    submissions: int

    @property
    def waiting(self) -> int:
        return self.counts.get("queued", 0) + self.counts.get("running", 0)

    @property
    def finished(self) -> int:
        return self.submissions - self.waiting

    @property
    def done(self) -> bool:
        return self.waiting == 0


def coursework_progress(*, session: Session, coursework_id: int) -> Progress:
    latest = (
        select(func.max(GradingRun.id).label("id"))
        .join(Submission, Submission.id == GradingRun.submission_id)
        .where(Submission.coursework_id == coursework_id, GradingRun.kind == RunKind.full, NOT_STAGED)
        .group_by(GradingRun.submission_id)
        .subquery()
    )
    statuses = session.scalars(select(GradingRun.status).join(latest, latest.c.id == GradingRun.id)).all()
    counts = Counter(s.value for s in statuses)
    return Progress(dict(counts), len(statuses))
