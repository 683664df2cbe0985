"""``erase_student``: every row about one student deleted in one transaction, audited, and then the
blobs that no remaining row uses removed from the store.

A student may be erased once withdrawn (an erasure on request: withdraw them first, so a typo in an
id cannot erase someone still being marked) or once their retention period has run out.

Blobs are content-addressed and may be shared (two students uploading the same file, the skeleton,
a rendered notebook identical for both): only those no remaining row references are deleted, after
the rows' commit (a crash in between leaves orphans, which ``grader blobs gc`` collects), and not if
someone stored the same bytes again since the erasure began (``BlobStore.delete``).

The audit row keeps no personal data: the student's internal id (which no longer names anyone),
the grounds, the reason as the lecturer wrote it, the courseworks concerned and the counts of what
was deleted. The audit rows about the student (their submissions, marks, extensions, sign-ins) go;
other rows that named them (a marker allocation's details) have the name replaced by ``[erased]``.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, cast, delete, or_, select, update
from sqlalchemy.orm import Session

from grader.audit.models import AuditEvent
from grader.audit.service import record_event
from grader.blobs.base import BlobStore
from grader.courseworks.models import Coursework, DeadlineExtension, MitigatingCircumstance, Release
from grader.erasure.retention import RetentionPolicy, expires_at, module_end
from grader.grading.model_verdicts import ModelVerdict
from grader.marking.models import ManualMark, MarkChange, PenaltyDecision
from grader.marking.module_models import ExamMark
from grader.marking.scale_models import CandidatePseudonym, MarkingAllocation, ModerationPick
from grader.roster.models import Student
from grader.runs.blob_gc import referenced_keys
from grader.runs.models import GradingRun, RunArtifact, RunItemScore, RunPenalty, RunTestResult
from grader.submissions.models import CountingChoice, DuplicateFlag, Submission, SubmissionFile
from grader.submissions.quota_models import UploadAttempt, UploadQuota
from grader.users.models import ApiToken, Role, User
from grader.users.throttle_models import SignInFailure
from grader.users.web_session_models import WebSession
from grader.webhooks.models import WebhookDelivery

ERASED = "[erased]"
ACTION = "student.erase"


class UnknownStudent(LookupError):
    pass


class ErasureRefused(ValueError):
    """The student may not be erased yet: the message says why and what to do."""


@dataclass
class ErasurePlan:
    """What an erasure would delete (``--dry-run``) or did delete."""

    external_id: str
    student_id: int
    grounds: str  # "request" (withdrawn) or "retention" (the period ran out)
    courseworks: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows deleted
    blobs_removed: list[str] = field(default_factory=list)
    blobs_kept: int = 0  # still used by another row (shared content), or stored again meanwhile
    audit_event_id: int | None = None


def student_by_external_id(session: Session, external_id: str) -> Student:
    student = session.scalars(select(Student).where(Student.external_id == external_id)).one_or_none()
    if student is None:
        raise UnknownStudent(f"no student {external_id!r} on the roster")
    return student


def grounds_for(session: Session, student: Student, policy: RetentionPolicy, now: dt.datetime) -> str:
    """``retention`` or ``request``; ``ErasureRefused`` if neither holds yet."""
    until = expires_at(student, module_end(session, policy), policy)
    if until is not None and until <= now:
        return "retention"
    if student.withdrawn_at is not None:
        return "request"
    when = f"until {until.date().isoformat()}" if until else "until the module has ended"
    raise ErasureRefused(
        f"student {student.external_id} is enrolled and their data is kept {when}: "
        "to erase it on request, withdraw them first"
    )


def erase_student(
    *,
    session: Session,
    store: BlobStore,
    external_id: str,
    reason: str,
    actor_id: int | None,
    policy: RetentionPolicy,
    now: dt.datetime,
) -> ErasurePlan:
    """Erase one student; commits. ``actor_id``: the lecturer (None: the retention job)."""
    reason = reason.strip()
    if not reason:
        raise ErasureRefused("an erasure needs a reason")
    started = time.time()  # a blob stored again after this is kept (another upload of the same bytes)
    student = student_by_external_id(session, external_id)
    plan = ErasurePlan(external_id, student.id, grounds_for(session, student, policy, now))
    candidates = _delete_rows(session, student, plan)
    event = record_event(
        session=session,
        actor_id=actor_id,
        action=ACTION,
        subject_type="erasure",
        subject_id=student.id,
        at=now,
        details={
            "grounds": plan.grounds,
            "reason": reason[:1000],
            "courseworks": plan.courseworks,
            "rows": plan.rows,
            "blobs": len(candidates),
        },
    )
    session.commit()
    plan.audit_event_id = event.id
    used = referenced_keys(session, candidates)
    session.rollback()  # end the read before the deletions
    for key in sorted(candidates):
        if key not in used and store.delete(key, unless_stored_since=started):
            plan.blobs_removed.append(key)
        else:
            plan.blobs_kept += 1
    return plan


def _delete_rows(session: Session, student: Student, plan: ErasurePlan) -> set[str]:
    """Delete every row about ``student``; return the blob keys those rows referenced."""
    sid = student.id
    subs = list(session.scalars(select(Submission.id).where(Submission.student_id == sid)))
    runs = list(session.scalars(select(GradingRun.id).where(GradingRun.submission_id.in_(subs)))) if subs else []
    marks = list(session.scalars(select(ManualMark.id).where(ManualMark.student_id == sid)))
    penalties = list(session.scalars(select(PenaltyDecision.id).where(PenaltyDecision.student_id == sid)))
    picks = list(session.scalars(select(ModerationPick.id).where(ModerationPick.student_id == sid)))
    plan.courseworks = sorted(
        set(session.scalars(select(Coursework.code).join(Submission).where(Submission.student_id == sid)))
    )
    blobs: set[str] = set(session.scalars(select(Submission.blob_key).where(Submission.student_id == sid)))
    if runs:
        blobs.update(session.scalars(select(RunArtifact.blob_key).where(RunArtifact.run_id.in_(runs))))
        for a, b in session.execute(
            select(GradingRun.executed_notebook_key, GradingRun.rendered_notebook_key).where(GradingRun.id.in_(runs))
        ):
            blobs.update(k for k in (a, b) if k)
    files = set(session.scalars(select(SubmissionFile.sha256).where(SubmissionFile.submission_id.in_(subs))))
    user = session.get(User, student.user_id) if student.user_id is not None else None

    def gone(table: str, statement: Any) -> None:
        count = getattr(session.execute(statement), "rowcount", 0)  # a CursorResult's
        if count:
            plan.rows[table] = plan.rows.get(table, 0) + count

    _audit_rows(session, student, user, subs, marks, penalties, picks, gone)
    gone("webhook_deliveries", delete(WebhookDelivery).where(WebhookDelivery.id.in_(_deliveries(session, student))))
    if runs:
        for run_column in (RunTestResult.run_id, RunItemScore.run_id, RunPenalty.run_id, RunArtifact.run_id):
            gone(run_column.table.name, delete(run_column.table).where(run_column.in_(runs)))
    if subs:
        # Another student's run is never superseded by this student's submission; cleared to be sure.
        session.execute(update(GradingRun).where(GradingRun.superseded_by_id.in_(subs)).values(superseded_by_id=None))
        gone("grading_runs", delete(GradingRun).where(GradingRun.submission_id.in_(subs)))
        gone(
            "duplicate_flags",
            delete(DuplicateFlag).where(
                or_(DuplicateFlag.submission_id.in_(subs), DuplicateFlag.duplicate_of_id.in_(subs))
            ),
        )
        gone("submission_files", delete(SubmissionFile).where(SubmissionFile.submission_id.in_(subs)))
    gone("moderation_picks", delete(ModerationPick).where(ModerationPick.id.in_(picks)))
    gone("counting_choices", delete(CountingChoice).where(CountingChoice.student_id == sid))
    gone("mark_changes", delete(MarkChange).where(MarkChange.mark_id.in_(marks)))
    for column in (
        ManualMark.student_id,
        PenaltyDecision.student_id,
        Submission.student_id,
        DeadlineExtension.student_id,
        MitigatingCircumstance.student_id,
        Release.student_id,
        ExamMark.student_id,
        MarkingAllocation.student_id,
        CandidatePseudonym.student_id,
        UploadQuota.student_id,
        UploadAttempt.student_id,
    ):
        gone(column.table.name, delete(column.table).where(column == sid))
    if files:  # verdicts on model files nobody else submitted
        still = set(session.scalars(select(SubmissionFile.sha256).where(SubmissionFile.sha256.in_(files))))
        gone("model_verdicts", delete(ModelVerdict).where(ModelVerdict.sha256.in_(files - still)))
    gone("students", delete(Student).where(Student.id == sid))
    if user is not None and user.role == Role.student:
        gone("api_tokens", delete(ApiToken).where(ApiToken.user_id == user.id))
        gone("web_sessions", delete(WebSession).where(WebSession.user_id == user.id))
        gone("sign_in_failures", delete(SignInFailure).where(SignInFailure.username == user.username))
        gone("users", delete(User).where(User.id == user.id))
    session.expunge_all()  # the deleted objects must not be flushed back
    return blobs


def _audit_rows(
    session: Session,
    student: Student,
    user: User | None,
    subs: list[uuid.UUID],
    marks: list[int],
    penalties: list[int],
    picks: list[int],
    gone: Any,
) -> None:
    """Delete the audit rows about the student; redact the student from the ones that only name them."""
    subjects: dict[str, list[Any]] = {
        "student": [student.id],
        "submission": subs,
        "manual_mark": marks,
        "penalty_decision": penalties,
        "moderation_pick": picks,
        "user": [user.id] if user is not None and user.role == Role.student else [],
    }
    about: list[Any] = [
        (AuditEvent.subject_type == kind) & AuditEvent.subject_id.in_([str(i) for i in ids])
        for kind, ids in subjects.items()
        if ids
    ]
    if user is not None and user.role == Role.student:
        about.append(AuditEvent.actor_id == user.id)
    # Single sign-ons refused by the identity the token gave (an email in lower case, a student number).
    identities = {v.strip().lower() for v in (student.email, student.external_id) if v} | {student.external_id}
    about.append((AuditEvent.subject_type == "sign_on") & AuditEvent.subject_id.in_(sorted(identities)))
    gone("audit_events", delete(AuditEvent).where(or_(*about)))
    names = {v for v in (student.external_id, student.name, student.email) if v}
    if user is not None and user.role == Role.student:
        names.update(v for v in (user.username, user.name, user.email) if v)
    text = cast(AuditEvent.details, String)
    for event in session.scalars(
        select(AuditEvent).where(or_(text.contains("student_id"), *[_mentions(text, n) for n in names]))
    ):
        details = _redact(event.details, names, student.id)
        if details != event.details:
            event.details = details
            session.flush()


def _mentions(column: Any, value: str) -> Any:
    return column.contains(value, autoescape=True)


def _redact(value: Any, names: set[str], student_id: int, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, names, student_id, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, names, student_id, key) for v in value]
    if isinstance(value, str) and value in names:
        return ERASED
    if key == "student_id" and value == student_id:
        return ERASED
    return value


def _deliveries(session: Session, student: Student) -> list[int]:
    """Webhook deliveries whose payload names the student (pending or sent)."""
    text = cast(WebhookDelivery.payload, String)
    rows = session.execute(
        select(WebhookDelivery.id, WebhookDelivery.payload).where(_mentions(text, student.external_id))
    )
    return [i for i, payload in rows if _names(payload, student.external_id)]


def _names(value: Any, external_id: str) -> bool:
    if isinstance(value, dict):
        return any(_names(v, external_id) for v in value.values())
    if isinstance(value, list):
        return any(_names(v, external_id) for v in value)
    return value == external_id


def preview(session: Session, student: Student, policy: RetentionPolicy, now: dt.datetime) -> ErasurePlan:
    """What ``erase_student`` would be allowed to do (grounds), without doing it."""
    return ErasurePlan(student.external_id, student.id, grounds_for(session, student, policy, now))
