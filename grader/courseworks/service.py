"""Deadlines as they apply to one student, and granting extensions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.courseworks.models import Coursework, DeadlineExtension, Release
from grader.db.clock import db_now
from grader.scoring.lateness import late_minutes
from grader.submissions.models import Submission


def effective_deadline(*, session: Session, student_id: int, coursework_id: int) -> dt.datetime | None:
    """The student's deadline in UTC: the coursework's, or their extension if later. None: no deadline."""
    deadline = session.scalars(select(Coursework.deadline).where(Coursework.id == coursework_id)).one()
    if deadline is None:
        return None  # nothing is late, an extension changes nothing
    extension = session.scalars(
        select(DeadlineExtension.deadline).where(
            DeadlineExtension.student_id == student_id, DeadlineExtension.coursework_id == coursework_id
        )
    ).first()
    # An extension entered by mistake before the deadline never makes a student late.
    return max(deadline, extension) if extension is not None else deadline


def grant_extension(
    *,
    session: Session,
    student_id: int,
    coursework_id: int,
    deadline: dt.datetime,
    granted_by_id: int | None,
    reason: str = "",
    now: dt.datetime | None = None,
) -> DeadlineExtension:
    """Give (or change) a student's extension, and recompute the late minutes of what they sent."""
    now = now or db_now(session)
    extension = session.scalars(
        select(DeadlineExtension).where(
            DeadlineExtension.student_id == student_id, DeadlineExtension.coursework_id == coursework_id
        )
    ).first()
    previous = extension.deadline if extension else None
    if extension is None:
        extension = DeadlineExtension(student_id=student_id, coursework_id=coursework_id)
        session.add(extension)
    extension.deadline, extension.reason = deadline, reason
    extension.granted_by_id, extension.granted_at = granted_by_id, now
    session.flush()
    new_deadline = effective_deadline(session=session, student_id=student_id, coursework_id=coursework_id)
    for sub in session.scalars(
        select(Submission).where(Submission.student_id == student_id, Submission.coursework_id == coursework_id)
    ):
        sub.late_minutes = late_minutes(sub.receipt_time, new_deadline)
    record_event(
        session=session,
        actor_id=granted_by_id,
        action="extension.grant",
        subject_type="student",
        subject_id=student_id,
        at=now,
        details={
            "coursework_id": coursework_id,
            "deadline": deadline.isoformat(),
            "previous": previous.isoformat() if previous else None,
            "reason": reason,
        },
    )
    session.commit()
    return extension


def coursework_by_code(*, session: Session, code: str) -> Coursework | None:
    return session.scalars(select(Coursework).where(Coursework.code == code)).first()


def is_released(*, session: Session, coursework: Coursework, student_id: int) -> bool:
    """Marks visible to this student: released to the cohort, or to them alone (late work). An
    unassessed coursework (a tutorial, weight 0) needs no release: its feedback shows once graded."""
    if coursework.released_at is not None or coursework.weight == 0:
        return True
    return (
        session.scalars(
            select(Release.id).where(Release.coursework_id == coursework.id, Release.student_id == student_id)
        ).first()
        is not None
    )


def release_coursework(
    *,
    session: Session,
    coursework: Coursework,
    released_by_id: int | None,
    note: str = "",
    now: dt.datetime | None = None,
) -> Release:
    """Make a coursework's marks visible to the whole cohort. Releasing again keeps the first time."""
    now = now or db_now(session)
    release = Release(
        coursework_id=coursework.id, student_id=None, released_by_id=released_by_id, released_at=now, note=note
    )
    session.add(release)
    if coursework.released_at is None:
        coursework.released_at = now
    record_event(
        session=session,
        actor_id=released_by_id,
        action="release",
        subject_type="coursework",
        subject_id=coursework.id,
        at=now,
        details={"note": note},
    )
    session.commit()
    return release
