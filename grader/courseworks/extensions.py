"""Extensions and mitigating circumstances for one student and coursework: grant, change, revoke,
list. The ``stage_*`` functions write inside the caller's transaction (the CSV import stages many,
then commits once); the others commit.

Every change recomputes the late minutes of the student's submissions against their new deadline
(which submission counts reads that deadline afresh, ``grader.submissions.service``) and is audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.courseworks.models import Coursework, DeadlineExtension, MitigatingCircumstance
from grader.courseworks.service import effective_deadline
from grader.db.clock import db_now
from grader.roster.models import Student
from grader.rubrics.model import Rubric
from grader.scoring.lateness import Lateness, late_minutes, policy_lateness
from grader.submissions.models import Submission


class NoExtension(LookupError):
    """Revoking what was never granted."""


def _iso(when: dt.datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def recompute_late_minutes(*, session: Session, student_id: int, coursework_id: int) -> None:
    """The stored late minutes of every submission of this student, against their deadline now."""
    deadline = effective_deadline(session=session, student_id=student_id, coursework_id=coursework_id)
    for sub in session.scalars(
        select(Submission).where(Submission.student_id == student_id, Submission.coursework_id == coursework_id)
    ):
        sub.late_minutes = late_minutes(sub.receipt_time, deadline)


def extension_of(*, session: Session, student_id: int, coursework_id: int) -> DeadlineExtension | None:
    return session.scalars(
        select(DeadlineExtension).where(
            DeadlineExtension.student_id == student_id, DeadlineExtension.coursework_id == coursework_id
        )
    ).first()


def stage_extension(
    *,
    session: Session,
    student: Student,
    coursework: Coursework,
    deadline: dt.datetime,
    reason: str,
    actor_id: int | None,
    now: dt.datetime,
) -> DeadlineExtension:
    """Grant or change an extension (no commit). ``deadline`` is an aware instant after the coursework's."""
    if coursework.deadline is None:
        raise ValueError(f"{coursework.code} has no deadline, so an extension changes nothing")
    if deadline <= coursework.deadline:
        raise ValueError("an extension can only move the deadline later than the coursework's")
    extension = extension_of(session=session, student_id=student.id, coursework_id=coursework.id)
    previous = extension.deadline if extension else None
    if extension is None:
        extension = DeadlineExtension(student_id=student.id, coursework_id=coursework.id)
        session.add(extension)
    extension.deadline, extension.reason = deadline, reason
    extension.granted_by_id, extension.granted_at = actor_id, now
    session.flush()
    recompute_late_minutes(session=session, student_id=student.id, coursework_id=coursework.id)
    record_event(
        session=session,
        actor_id=actor_id,
        action="extension.change" if previous is not None else "extension.grant",
        subject_type="student",
        subject_id=student.id,
        at=now,
        details={
            "coursework": coursework.code,
            "external_id": student.external_id,
            "deadline": _iso(deadline),
            "previous": _iso(previous),
            "reason": reason,
        },
    )
    return extension


def grant(
    *,
    session: Session,
    student: Student,
    coursework: Coursework,
    deadline: dt.datetime,
    reason: str = "",
    actor_id: int | None,
    now: dt.datetime | None = None,
) -> DeadlineExtension:
    extension = stage_extension(
        session=session,
        student=student,
        coursework=coursework,
        deadline=deadline,
        reason=reason,
        actor_id=actor_id,
        now=now or db_now(session),
    )
    session.commit()
    return extension


def revoke(
    *, session: Session, student: Student, coursework: Coursework, actor_id: int | None, now: dt.datetime | None = None
) -> None:
    """Drop a student's extension: the coursework's deadline applies again. Raises ``NoExtension``."""
    extension = extension_of(session=session, student_id=student.id, coursework_id=coursework.id)
    if extension is None:
        raise NoExtension(f"{student.external_id} has no extension on {coursework.code}")
    previous, reason = extension.deadline, extension.reason
    session.delete(extension)
    session.flush()
    recompute_late_minutes(session=session, student_id=student.id, coursework_id=coursework.id)
    record_event(
        session=session,
        actor_id=actor_id,
        action="extension.revoke",
        subject_type="student",
        subject_id=student.id,
        at=now or db_now(session),
        details={
            "coursework": coursework.code,
            "external_id": student.external_id,
            "previous": _iso(previous),
            "reason": reason,
        },
    )
    session.commit()


# -- mitigating circumstances ----------------------------------------------------------------------


def mitigation_of(*, session: Session, student_id: int, coursework_id: int) -> MitigatingCircumstance | None:
    return session.scalars(
        select(MitigatingCircumstance).where(
            MitigatingCircumstance.student_id == student_id, MitigatingCircumstance.coursework_id == coursework_id
        )
    ).first()


def penalty_waived(*, session: Session, student_id: int, coursework_id: int) -> bool:
    return mitigation_of(session=session, student_id=student_id, coursework_id=coursework_id) is not None


def waived_students(*, session: Session, coursework_id: int) -> set[int]:
    """Students of a coursework whose late penalty is waived (one read for an overview)."""
    return set(
        session.scalars(
            select(MitigatingCircumstance.student_id).where(MitigatingCircumstance.coursework_id == coursework_id)
        )
    )


def record_mitigation(
    *,
    session: Session,
    student: Student,
    coursework: Coursework,
    reason: str,
    actor_id: int | None,
    now: dt.datetime | None = None,
) -> MitigatingCircumstance:
    """Waive the student's late penalty on this coursework (or change the reason). Commits."""
    now = now or db_now(session)
    row = mitigation_of(session=session, student_id=student.id, coursework_id=coursework.id)
    previous = row.reason if row else None
    if row is None:
        row = MitigatingCircumstance(student_id=student.id, coursework_id=coursework.id)
        session.add(row)
    row.reason, row.recorded_by_id, row.recorded_at = reason, actor_id, now
    record_event(
        session=session,
        actor_id=actor_id,
        action="mitigation.record" if previous is None else "mitigation.change",
        subject_type="student",
        subject_id=student.id,
        at=now,
        details={"coursework": coursework.code, "external_id": student.external_id, "reason": reason},
    )
    session.commit()
    return row


def withdraw_mitigation(
    *, session: Session, student: Student, coursework: Coursework, actor_id: int | None, now: dt.datetime | None = None
) -> None:
    """The late penalty applies again. Raises ``LookupError`` when none was recorded."""
    row = mitigation_of(session=session, student_id=student.id, coursework_id=coursework.id)
    if row is None:
        raise LookupError(f"{student.external_id} has no mitigating circumstances on {coursework.code}")
    reason = row.reason
    session.delete(row)
    record_event(
        session=session,
        actor_id=actor_id,
        action="mitigation.withdraw",
        subject_type="student",
        subject_id=student.id,
        at=now or db_now(session),
        details={"coursework": coursework.code, "external_id": student.external_id, "reason": reason},
    )
    session.commit()


def lateness_of(*, session: Session, rubric: Rubric, sub: Submission) -> Lateness:
    """The late policy's verdict on one submission: its late minutes against the student's own
    deadline, working days for a cap policy, and the penalty waived for mitigating circumstances."""
    deadline = None
    if rubric.late_policy.kind == "cap" and sub.late_minutes > 0:
        deadline = effective_deadline(session=session, student_id=sub.student_id, coursework_id=sub.coursework_id)
    return policy_lateness(
        rubric.late_policy,
        minutes=sub.late_minutes,
        received=sub.receipt_time,
        deadline=deadline,
        tz=rubric.timezone,
        penalty_waived=sub.late_minutes > 0
        and penalty_waived(session=session, student_id=sub.student_id, coursework_id=sub.coursework_id),
    )


# -- listing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudentAdjustments:
    """One student's extension and mitigating circumstances on one coursework, as stored."""

    student_id: int
    external_id: str
    name: str
    deadline: dt.datetime | None  # the extension's; None: no extension
    extension_reason: str | None
    granted_at: dt.datetime | None
    penalty_waived: bool
    mitigation_reason: str | None


def adjustments(*, session: Session, coursework_id: int) -> list[StudentAdjustments]:
    """Every student with an extension or mitigating circumstances on the coursework, roster order."""
    extensions = {
        e.student_id: e
        for e in session.scalars(select(DeadlineExtension).where(DeadlineExtension.coursework_id == coursework_id))
    }
    mitigations = {
        m.student_id: m
        for m in session.scalars(
            select(MitigatingCircumstance).where(MitigatingCircumstance.coursework_id == coursework_id)
        )
    }
    ids = set(extensions) | set(mitigations)
    if not ids:
        return []
    students = session.scalars(select(Student).where(Student.id.in_(ids)).order_by(Student.enrolled_at, Student.id))
    out = []
    for s in students:
        ext, mit = extensions.get(s.id), mitigations.get(s.id)
        out.append(
            StudentAdjustments(
                student_id=s.id,
                external_id=s.external_id,
                name=s.name,
                deadline=ext.deadline if ext else None,
                extension_reason=ext.reason if ext else None,
                granted_at=ext.granted_at if ext else None,
                penalty_waived=mit is not None,
                mitigation_reason=mit.reason if mit else None,
            )
        )
    return out
