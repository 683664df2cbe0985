"""When a student's data may be erased: ``retention_days`` after the module's end, or after their
withdrawal if that comes first. The module's end is configured, or else the latest deadline of an
assessed coursework (an extension's included)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework, DeadlineExtension
from grader.roster.models import Student


@dataclass(frozen=True)
class RetentionPolicy:
    days: int
    module_end: dt.datetime | None = None  # None: the latest deadline in the gradebook

    def __post_init__(self) -> None:
        if self.days < 0:
            raise ValueError("the retention period cannot be negative")


def module_end(session: Session, policy: RetentionPolicy) -> dt.datetime | None:
    if policy.module_end is not None:
        return policy.module_end
    deadline = session.scalar(select(func.max(Coursework.deadline)).where(Coursework.weight > 0))
    extended = session.scalar(
        select(func.max(DeadlineExtension.deadline))
        .join(Coursework, Coursework.id == DeadlineExtension.coursework_id)
        .where(Coursework.weight > 0)
    )
    ends = [d for d in (deadline, extended) if d is not None]
    return max(ends) if ends else None


def expires_at(student: Student, end: dt.datetime | None, policy: RetentionPolicy) -> dt.datetime | None:
    """When ``student``'s data may be erased without a request; None: not yet known (no module end)."""
    keep = dt.timedelta(days=policy.days)
    candidates = [t + keep for t in (end, student.withdrawn_at) if t is not None]
    return min(candidates) if candidates else None


def expired_students(session: Session, policy: RetentionPolicy, now: dt.datetime) -> list[Student]:
    """Every student whose retention period has run out, in roster order."""
    end = module_end(session, policy)
    students = session.scalars(select(Student).order_by(Student.id)).all()
    return [s for s in students if (at := expires_at(s, end, policy)) is not None and at <= now]


def policy(days: int, end_day: dt.date | None) -> RetentionPolicy:
    """The policy from the settings: a configured last day ends at the following midnight, UTC."""
    end = None
    if end_day is not None:
        end = dt.datetime.combine(end_day + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)
    return RetentionPolicy(days=days, module_end=end)
