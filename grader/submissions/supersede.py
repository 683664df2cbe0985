"""A new submission supersedes the same student's older runs still waiting in the queue.

Only full runs the student's own uploads queued (a marker's regrade or a lecturer's raised run is
never superseded), only while queued (a run already being graded finishes), and never the run of
the submission that counts: the deadline and the student's extension decide which counts
(``counting_submission``, a lecturer's pick included), so an on-time submission waiting to be graded
is not superseded by a late one. A superseded run is kept, marked, and can be brought back
(``grader.runs.service.enqueue_run`` revives it: a regrade, or a lecturer's "grade this first").
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from grader.runs.fair_queue import NORMAL
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.submissions.models import Submission
from grader.submissions.service import counting_submission


def supersede_waiting_runs(*, session: Session, submission: Submission, grace_minutes: int = 0) -> list[int]:
    """Mark superseded (by ``submission``) the queued full runs of this student's earlier submissions
    to the same coursework, but the counting one's. Returns their ids. Commits."""
    counting = counting_submission(
        session=session,
        student_id=submission.student_id,
        coursework_id=submission.coursework_id,
        grace_minutes=grace_minutes,
    )
    keep = [submission.id] + ([counting.id] if counting is not None else [])
    earlier = select(Submission.id).where(
        Submission.student_id == submission.student_id,
        Submission.coursework_id == submission.coursework_id,
        Submission.received_at <= submission.received_at,
        Submission.id.not_in(keep),
    )
    superseded = (
        session.execute(
            update(GradingRun)
            .where(
                GradingRun.submission_id.in_(earlier),
                GradingRun.kind == RunKind.full,
                GradingRun.status == RunStatus.queued,
                GradingRun.requested_by_id.is_(None),
                GradingRun.priority >= NORMAL[RunKind.full],
            )
            .values(status=RunStatus.superseded, superseded_by_id=submission.id)
            .returning(GradingRun.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    session.commit()
    return sorted(superseded)
