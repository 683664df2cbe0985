"""The hourly upload limit: at most N upload attempts per student and coursework in any hour.

Every attempt counts, refused ones too (an invalid or oversized file costs the service a parse,
an unzip and a schema check just as a good one does), except a retry that only fetches the
receipt of a stored submission. Limits are per coursework, so practice work never uses up an
assessed coursework's quota. The check is atomic per (student, coursework): its first statement
writes that pair's ``upload_quotas`` row, which holds a row lock on Postgres (the write lock on
SQLite) until the attempt is recorded, so parallel uploads take turns instead of all passing.
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from grader.db.clock import db_now
from grader.rubrics.model import Rubric
from grader.submissions.quota_models import UploadAttempt, UploadQuota

RATE_WINDOW = dt.timedelta(hours=1)


def hourly_limit(rubric: Rubric, *, assessed: int, unassessed: int) -> int:
    """A coursework's upload limit: the rubric's own, else the service's for its kind. Counting is per
    coursework either way, so tutorial practice never uses up an assessed coursework's attempts."""
    if rubric.submissions_per_hour is not None:
        return rubric.submissions_per_hour
    return unassessed if rubric.unassessed else assessed


class RateLimited(Exception):
    """Over the limit; ``retry_after_s`` is when the oldest counted attempt leaves the window."""

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


def count_upload_attempt(
    *, session: Session, student_id: int, coursework_id: int, per_hour: int, now: dt.datetime | None = None
) -> None:
    """Record one upload attempt, or raise ``RateLimited`` (recording nothing) when the student
    already made ``per_hour`` attempts at this coursework in the last hour.

    Runs in a transaction of its own and commits: it ends the session's open transaction first,
    so call it with nothing pending.
    """
    session.rollback()
    now = now or db_now(session)
    since = now - RATE_WINDOW
    _take_turn(session, student_id, coursework_id, now)
    pair = (UploadAttempt.student_id == student_id, UploadAttempt.coursework_id == coursework_id)
    session.execute(delete(UploadAttempt).where(*pair, UploadAttempt.at <= since))
    count, oldest = session.execute(
        select(func.count(UploadAttempt.id), func.min(UploadAttempt.at)).where(*pair, UploadAttempt.at > since)
    ).one()
    if count >= per_hour:
        session.rollback()
        wait = max(1, math.ceil((oldest + RATE_WINDOW - now).total_seconds()))
        raise RateLimited(
            f"at most {per_hour} uploads an hour are accepted for this coursework, refused ones "
            f"included; try again in {math.ceil(wait / 60)} minutes.",
            wait,
        )
    session.add(UploadAttempt(student_id=student_id, coursework_id=coursework_id, at=now))
    session.commit()


def _take_turn(session: Session, student_id: int, coursework_id: int, now: dt.datetime) -> None:
    """Upsert the pair's quota row: the write that makes concurrent checks of one pair queue."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(UploadQuota).values(student_id=student_id, coursework_id=coursework_id, last_attempt_at=now)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[UploadQuota.student_id, UploadQuota.coursework_id], set_={"last_attempt_at": now}
        )
    )
