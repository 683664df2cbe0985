"""Deadline night: one extension for the whole cohort of a coursework (after an outage, say).

It grants every student on the roster an extension to the new deadline rather than moving the
coursework's own deadline: that one is the rubric's, and ``sync_courseworks`` writes it back from
the rubric file at every start, so a moved deadline would silently snap back after a restart. An
individual extension already at or past the new deadline is kept as it is; a shorter one is raised
to it. Each change goes through ``stage_extension`` (late minutes recomputed, one audit event per
student), plus one ``extension.cohort`` event for the action, all in one commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.courseworks.extensions import stage_extension
from grader.courseworks.models import Coursework, DeadlineExtension
from grader.db.clock import db_now
from grader.roster.models import Student
from grader.submissions.models import Submission


@dataclass(frozen=True)
class CohortExtension:
    coursework: str
    deadline: dt.datetime
    granted: int  # students whose deadline moved to the new one
    kept: int  # students whose own extension already ran as long or longer
    late_submissions: int  # submissions of the coursework still late afterwards


def extend_cohort(
    *,
    session: Session,
    coursework: Coursework,
    deadline: dt.datetime,
    reason: str,
    actor_id: int | None,
    now: dt.datetime | None = None,
) -> CohortExtension:
    """Every student on the roster (withdrawn ones aside) gets at least ``deadline``. Commits once.

    ``deadline`` is an aware instant after the coursework's (``parse_deadline`` checks that);
    ``reason`` is required: it is the record of why a whole cohort's deadline moved.
    """
    if not reason.strip():
        raise ValueError("give a reason: it is the record of why the whole cohort's deadline moved")
    now = now or db_now(session)
    held = dict(
        session.execute(
            select(DeadlineExtension.student_id, DeadlineExtension.deadline).where(
                DeadlineExtension.coursework_id == coursework.id
            )
        ).all()
    )
    granted = kept = 0
    for student in session.scalars(select(Student).where(Student.withdrawn_at.is_(None)).order_by(Student.id)):
        own = held.get(student.id)
        if own is not None and own >= deadline:
            kept += 1  # a longer individual extension stays
            continue
        stage_extension(
            session=session,
            student=student,
            coursework=coursework,
            deadline=deadline,
            reason=reason,
            actor_id=actor_id,
            now=now,
        )
        granted += 1
    session.flush()
    late = session.scalar(
        select(func.count(Submission.id)).where(Submission.coursework_id == coursework.id, Submission.late_minutes > 0)
    )
    record_event(
        session=session,
        actor_id=actor_id,
        action="extension.cohort",
        subject_type="coursework",
        subject_id=coursework.id,
        at=now,
        details={
            "coursework": coursework.code,
            "deadline": deadline.isoformat(),
            "reason": reason,
            "granted": granted,
            "kept": kept,
            "late_submissions": late,
        },
    )
    session.commit()
    return CohortExtension(coursework.code, deadline, granted, kept, int(late or 0))
