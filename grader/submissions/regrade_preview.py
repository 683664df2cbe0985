"""A lecturer's regrade of a coursework on a fixed hidden suite, previewed before anything is published.

``start_preview`` queues one staged run (``GradingRun.staged``) per counting submission. Staged runs
are graded like any other, but every query that picks the run a reader sees skips them (``NOT_STAGED``),
and they send no webhook: students, markers, exports and course systems see nothing change.
``preview_report`` compares, per student, the total of their current run with the total the staged
run would give (the same markers' marks, overrides and penalty decisions on both sides). Only
``apply_preview`` makes the staged graded runs current (the old runs stay, as history) and only while
the suite and rubric on disk are still those the preview was made on; ``discard_preview`` drops it.
Every step is audited with the digests it ran on.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.audit.models import AuditEvent
from grader.audit.service import record_event
from grader.courseworks.models import Coursework
from grader.courseworks.sync import file_digest, tree_digest
from grader.db.clock import db_now
from grader.db.dml import rowcount
from grader.marking.regrade_diff import ItemDiff, TotalDiff, total_diff
from grader.marking.sheet import marks_of_submission, marks_with_run
from grader.roster.models import Student
from grader.roster.service import roster
from grader.rubrics.loader import CourseworkFiles
from grader.rubrics.model import Rubric
from grader.runs.fair_queue import NORMAL
from grader.runs.models import LIVE_STATUSES, GradingRun, RunKind, RunStatus
from grader.runs.preview_models import PreviewStatus, RegradePreview
from grader.submissions.models import Submission
from grader.submissions.run_queue import RunQueue
from grader.submissions.service import counting_submission
from grader.webhooks.service import emit_run_event

log = logging.getLogger(__name__)
# Behind every ordinary full run: a preview is the lecturer's background check, never a student's wait.
PREVIEW_PRIORITY = NORMAL[RunKind.full] + 1


class PreviewError(Exception):
    """A preview action refused; nothing was written. The message is for the lecturer."""


class PreviewNotFound(PreviewError):
    pass


class PreviewConflict(PreviewError):
    """Not now: another preview is pending, runs are still grading, or it was decided already."""


class PreviewStale(PreviewError):
    """The suite or rubric changed since the preview was made: its runs graded the old one."""


@dataclass(frozen=True)
class SuiteDigests:
    hidden: str  # the hidden suite's tree digest (``tree_digest``)
    rubric: str  # the rubric file's digest


def suite_digests(files: CourseworkFiles) -> SuiteDigests:
    """The digests of the suite and rubric on disk now (what a worker would grade with)."""
    return SuiteDigests(tree_digest(files.hidden), file_digest(files.folder / "rubric.yaml"))


@dataclass(frozen=True)
class PreviewRow:
    """One student of the preview: their staged run and, once it is graded, the change it makes."""

    student: Student
    submission_id: uuid.UUID
    run_id: int
    run_status: str  # queued | running | graded | error | cancelled | superseded
    diff: TotalDiff | None  # None until the staged run is graded (an applied preview's: as applied)
    compared: bool = True  # False: a discarded preview's graded run, never compared

    @property
    def state(self) -> str:
        """changed | unchanged | waiting (not finished) | failed (error, cancelled, superseded) |
        graded (a discarded preview's, not compared)."""
        if self.run_status == "graded":
            if not self.compared:
                return "graded"
            return "changed" if self.diff is not None and self.diff.changed else "unchanged"
        return "waiting" if self.run_status in ("queued", "running") else "failed"


@dataclass(frozen=True)
class PreviewReport:
    preview: RegradePreview
    rows: list[PreviewRow]
    current: SuiteDigests | None = None  # what is on disk now (None: not asked)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def stale(self) -> bool:
        """The suite or rubric on disk is no longer the preview's: it cannot be applied."""
        return self.current is not None and (
            self.current.hidden != self.preview.hidden_digest or self.current.rubric != self.preview.rubric_digest
        )

    @property
    def changed(self) -> list[PreviewRow]:
        return [r for r in self.rows if r.state == "changed"]


def start_preview(
    *,
    session: Session,
    coursework: Coursework,
    rubric: Rubric,
    digests: SuiteDigests,
    lecturer_id: int,
    queue: str,
    run_queue: RunQueue,
    now: dt.datetime | None = None,
) -> RegradePreview:
    """Stage a run on the current suite for every enrolled student's counting submission, and wake
    workers for them. One pending preview per coursework. Refuses (``PreviewStale``) when the rubric
    file on disk is not the one the service loaded: the preview's totals would use the old one."""
    if digests.rubric != coursework.rubric_digest:
        raise PreviewStale(
            "the rubric file changed since the service loaded it; restart the service so that marks use "
            "the new rubric, then preview again."
        )
    pending = _pending(session, coursework.id)
    if pending is not None:
        raise PreviewConflict(f"preview {pending.id} of {coursework.code} is still pending: apply or discard it first.")
    now = now or db_now(session)
    preview = RegradePreview(
        coursework_id=coursework.id,
        status=PreviewStatus.pending,
        hidden_digest=digests.hidden,
        rubric_digest=digests.rubric,
        created_by_id=lecturer_id,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(preview)
    except IntegrityError:  # another lecturer's preview, started between our look and our insert
        raise PreviewConflict(
            f"another preview of {coursework.code} was just started: apply or discard it first."
        ) from None
    runs: list[GradingRun] = []
    for student in roster(session=session):
        sub = counting_submission(
            session=session,
            student_id=student.id,
            coursework_id=coursework.id,
            grace_minutes=rubric.late_policy.grace_minutes,
        )
        if sub is not None:
            runs.append(_staged_run(session, preview, sub.id, queue, lecturer_id, now))
    record_event(
        session=session,
        actor_id=lecturer_id,
        action="regrade_preview.start",
        subject_type="coursework",
        subject_id=coursework.id,
        at=now,
        details={
            "preview_id": preview.id,
            "hidden_digest": digests.hidden,
            "rubric_digest": digests.rubric,
            "previous_hidden_digest": coursework.hidden_digest,
            "runs": len(runs),
        },
    )
    session.commit()
    for run in runs:
        try:
            run_queue.wake(run.id, run.queue)
        except Exception:  # committed: a lost wake-up costs time only (the sweeper re-wakes it)
            log.exception("could not wake a worker for staged run %s", run.id)
    return preview


def get_preview(*, session: Session, coursework: Coursework, preview_id: int) -> RegradePreview:
    preview = session.get(RegradePreview, preview_id, populate_existing=True)
    if preview is None or preview.coursework_id != coursework.id:
        raise PreviewNotFound(f"{coursework.code} has no regrade preview {preview_id}.")
    return preview


def list_previews(*, session: Session, coursework: Coursework) -> list[RegradePreview]:
    """Every preview of the coursework, newest first."""
    return list(
        session.scalars(
            select(RegradePreview)
            .where(RegradePreview.coursework_id == coursework.id)
            .order_by(RegradePreview.id.desc())
        )
    )


def preview_report(
    *, session: Session, preview: RegradePreview, rubric: Rubric, current: SuiteDigests | None = None
) -> PreviewReport:
    """Each student of a pending preview: their staged run, and once it is graded their current total
    against the total it would give, with the items that move. An applied preview's changes are as
    they were applied (from its audit event); a discarded preview's runs are not compared."""
    applied = _applied_changes(session, preview) if preview.status is PreviewStatus.applied else {}
    rows = []
    for run, sub, student in _runs_of(session, preview):
        diff = None
        if preview.status is PreviewStatus.pending and run.status is RunStatus.graded:
            old = marks_of_submission(session=session, rubric=rubric, sub=sub).total
            new = marks_with_run(session=session, rubric=rubric, sub=sub, run=run).total
            if old is not None and new is not None:
                diff = total_diff(old, new)
        elif preview.status is PreviewStatus.applied:
            diff = applied.get(run.id)
        compared = preview.status is not PreviewStatus.discarded
        rows.append(PreviewRow(student, sub.id, run.id, run.status.value, diff, compared))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    return PreviewReport(preview, rows, current, counts)


def apply_preview(
    *,
    session: Session,
    preview: RegradePreview,
    rubric: Rubric,
    current: SuiteDigests,
    lecturer_id: int,
    now: dt.datetime | None = None,
    public_url: str | None = None,
) -> PreviewReport:
    """Make the preview's graded runs current: from now on they stand for their submissions, and the
    runs they replace stay in each submission's history. Students whose staged run failed keep their
    mark. Refused while a run is still grading (``PreviewConflict``) and when the suite or rubric is
    no longer the preview's, on disk or in any of its runs (``PreviewStale``). Audited, with the
    digests and every student's old and new total. Returns the report as it was applied."""
    if preview.status is not PreviewStatus.pending:
        raise PreviewConflict(f"preview {preview.id} was {preview.status.value} already.")
    report = preview_report(session=session, preview=preview, rubric=rubric, current=current)
    if report.stale:
        raise PreviewStale(
            "the hidden suite or rubric changed since this preview was made: its runs graded the old "
            "one. Discard it and preview again."
        )
    waiting = report.counts.get("waiting", 0)
    if waiting:
        raise PreviewConflict(f"{waiting} of the preview's runs have not finished grading; apply once they have.")
    run_ids = [r.run_id for r in report.rows if r.run_status == "graded"]
    graded_on = set(
        session.execute(
            select(GradingRun.hidden_digest, GradingRun.rubric_digest).where(GradingRun.id.in_(run_ids))
        ).all()
    )
    if any(h != preview.hidden_digest or (r is not None and r != preview.rubric_digest) for h, r in graded_on):
        raise PreviewStale(
            "some of the preview's runs graded another suite than the one it was made on (the suite "
            "changed while it ran). Discard it and preview again."
        )
    now = now or db_now(session)
    _decide(session, preview, PreviewStatus.applied, lecturer_id, now)
    session.execute(
        update(GradingRun)
        .where(GradingRun.id.in_(run_ids), GradingRun.staged.is_(True), GradingRun.status == RunStatus.graded)
        .values(staged=False)
        .execution_options(synchronize_session=False)
    )
    changes = []
    for row in report.rows:
        if row.run_status != "graded":
            continue
        emit_run_event(session=session, run_id=row.run_id, now=now, public_url=public_url)  # a new current run
        if row.diff is not None and row.diff.changed:
            change = _change_details(row)
            changes.append(change)
            record_event(
                session=session,
                actor_id=lecturer_id,
                action="submission.regrade_applied",
                subject_type="submission",
                subject_id=row.submission_id,
                at=now,
                details={"preview_id": preview.id, "hidden_digest": preview.hidden_digest, **change},
            )
    record_event(
        session=session,
        actor_id=lecturer_id,
        action="regrade_preview.apply",
        subject_type="coursework",
        subject_id=preview.coursework_id,
        at=now,
        details={
            "preview_id": preview.id,
            "hidden_digest": preview.hidden_digest,
            "rubric_digest": preview.rubric_digest,
            "applied_runs": len(run_ids),
            "not_applied": [r.student.external_id for r in report.rows if r.run_status != "graded"],
            "changes": changes,
        },
    )
    session.commit()
    return report


def discard_preview(
    *, session: Session, preview: RegradePreview, lecturer_id: int, now: dt.datetime | None = None
) -> None:
    """Drop a pending preview: its runs stay staged for good, and those still waiting or grading are
    cancelled (a worker grading one finds its lease gone and writes nothing)."""
    if preview.status is not PreviewStatus.pending:
        raise PreviewConflict(f"preview {preview.id} was {preview.status.value} already.")
    now = now or db_now(session)
    _decide(session, preview, PreviewStatus.discarded, lecturer_id, now)
    cancelled = session.execute(
        update(GradingRun)
        .where(GradingRun.preview_id == preview.id, GradingRun.status.in_(LIVE_STATUSES))
        .values(status=RunStatus.cancelled, finished_at=now, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    record_event(
        session=session,
        actor_id=lecturer_id,
        action="regrade_preview.discard",
        subject_type="coursework",
        subject_id=preview.coursework_id,
        at=now,
        details={
            "preview_id": preview.id,
            "hidden_digest": preview.hidden_digest,
            "rubric_digest": preview.rubric_digest,
            "cancelled_runs": rowcount(cancelled),
        },
    )
    session.commit()


def _decide(
    session: Session, preview: RegradePreview, status: PreviewStatus, lecturer_id: int, now: dt.datetime
) -> None:
    """Mark the preview applied or discarded, if it is still pending: of two lecturers deciding at
    once, the second is refused (nothing written). The in-memory row follows."""
    result = session.execute(
        update(RegradePreview)
        .where(RegradePreview.id == preview.id, RegradePreview.status == PreviewStatus.pending)
        .values(status=status, decided_by_id=lecturer_id, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        session.rollback()
        raise PreviewConflict(f"preview {preview.id} was decided by someone else meanwhile.")
    preview.status, preview.decided_by_id, preview.decided_at = status, lecturer_id, now


def _pending(session: Session, coursework_id: int) -> RegradePreview | None:
    return session.scalars(
        select(RegradePreview).where(
            RegradePreview.coursework_id == coursework_id, RegradePreview.status == PreviewStatus.pending
        )
    ).first()


def _staged_run(
    session: Session, preview: RegradePreview, submission_id: uuid.UUID, queue: str, lecturer_id: int, now: dt.datetime
) -> GradingRun:
    run = GradingRun(
        submission_id=submission_id,
        kind=RunKind.full,
        queue=queue,
        priority=PREVIEW_PRIORITY,
        status=RunStatus.queued,
        attempt=1,
        requested_by_id=lecturer_id,  # never superseded by the student's uploads (grader.submissions.supersede)
        enqueued_at=now,
        preview_id=preview.id,
        staged=True,
    )
    try:
        with session.begin_nested():
            session.add(run)
    except IntegrityError:
        # A staged run of this submission still live: only a preview being discarded right now has one.
        raise PreviewConflict("another regrade preview's runs are still live; try again in a moment.") from None
    return run


def _runs_of(session: Session, preview: RegradePreview) -> Sequence[tuple[GradingRun, Submission, Student]]:
    rows = session.execute(
        select(GradingRun, Submission, Student)
        .join(Submission, Submission.id == GradingRun.submission_id)
        .join(Student, Student.id == Submission.student_id)
        .where(GradingRun.preview_id == preview.id)
        .order_by(Student.enrolled_at, Student.id, GradingRun.id)
        .execution_options(populate_existing=True)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def _change_details(row: PreviewRow) -> dict[str, object]:
    assert row.diff is not None
    return {
        "student": row.student.external_id,
        "submission_id": str(row.submission_id),
        "run_id": row.run_id,
        "old_total": row.diff.old,
        "new_total": row.diff.new,
        "delta": row.diff.delta,
        "max_score": row.diff.max_score,
        "items": [[i.id, i.kind, i.old, i.new] for i in row.diff.items],
    }


def _applied_changes(session: Session, preview: RegradePreview) -> dict[int, TotalDiff]:
    """run id -> its change as applied, from the preview's ``regrade_preview.apply`` audit event."""
    events = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "regrade_preview.apply",
            AuditEvent.subject_type == "coursework",
            AuditEvent.subject_id == str(preview.coursework_id),
        )
    )
    for event in events:
        if event.details.get("preview_id") == preview.id:
            return {
                int(c["run_id"]): TotalDiff(
                    float(c["old_total"]),
                    float(c["new_total"]),
                    float(c["max_score"]),
                    [ItemDiff(str(i), str(k), float(o), float(n)) for i, k, o, n in c["items"]],
                )
                for c in event.details.get("changes", [])
            }
    return {}
