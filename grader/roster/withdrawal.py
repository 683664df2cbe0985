"""Withdrawing a student from the module, and reinstating one withdrawn by mistake.

A withdrawn student keeps their row, submissions and marks (nothing is deleted): ``withdrawn_at``
set is what takes them out of the enrolled roster (``roster()``: the markers' overview, the
coursework marks and CSV) while the registry export lists them as ``withdrawn``.

The rules, chosen so a retried request never moves a date:

- withdrawing without a date means now; with a date, that day (00:00 UTC, so the registry's
  ``withdrawn_on`` shows the day given) or an instant with an offset; never a day in the future;
- withdrawing a student who is already withdrawn **keeps the first date** unless a date is given
  that differs: then the date is corrected (audited with the old and new value);
- reinstating a student who is not withdrawn changes nothing (and records nothing).

Each change commits with its audit event (``roster.withdraw``, ``roster.reinstate``); a call that
changes nothing writes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.db.clock import db_now
from grader.roster.models import Student

UTC = dt.UTC
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# How far ahead of now a date or instant may be: a lecturer east of UTC is already on "tomorrow's"
# UTC date (up to UTC+14), and clocks drift a little.
DATE_AHEAD = dt.timedelta(days=1)
INSTANT_AHEAD = dt.timedelta(minutes=5)


class UnknownStudent(LookupError):
    """No student with this external id is on the roster."""


class BadWithdrawalDate(ValueError):
    """A withdrawal date that cannot be read, or lies in the future."""


@dataclass(frozen=True)
class WithdrawalChange:
    """What a withdraw or reinstate did: the student as they are now, and whether anything changed."""

    student: Student
    changed: bool
    previous: dt.datetime | None  # withdrawn_at before the call


def withdrawal_instant(text: str | None, *, now: dt.datetime) -> dt.datetime | None:
    """The instant a lecturer's ``on`` means, in UTC; None when none was given. Pure.

    ``2026-03-02`` is that day at 00:00 UTC; ``2026-03-02T14:00:00+00:00`` (or ``...Z``) that
    instant. A time with no offset is refused rather than guessed."""
    text = (text or "").strip()
    if not text:
        return None
    if DATE.match(text):
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise BadWithdrawalDate(f"{text!r} is not a date (write it as 2026-03-02)") from None
        if day > (now + DATE_AHEAD).date():
            raise BadWithdrawalDate(f"{text!r} is in the future: record a withdrawal once it has happened")
        return dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        when = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise BadWithdrawalDate(
            f"{text!r} is not a date or an instant: write 2026-03-02, or 2026-03-02T14:00:00+00:00"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise BadWithdrawalDate(f"{text!r} has no time zone offset: write 2026-03-02T14:00:00+00:00, or a date alone")
    try:
        when = when.astimezone(UTC)
    except OverflowError:
        raise BadWithdrawalDate(f"{text!r} is out of range once in UTC") from None
    if when > now + INSTANT_AHEAD:
        raise BadWithdrawalDate(f"{text!r} is in the future: record a withdrawal once it has happened")
    return when


def _iso(when: dt.datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _locked_student(session: Session, external_id: str) -> Student:
    # FOR UPDATE: two lecturers withdrawing the same student at once are serialised (Postgres;
    # SQLite has one writer anyway), so the second sees the first's date.
    student = session.scalars(select(Student).where(Student.external_id == external_id).with_for_update()).first()
    if student is None:
        raise UnknownStudent(f"no student with external id {external_id!r} is on the roster")
    return student


def withdraw(
    *,
    session: Session,
    external_id: str,
    on: dt.datetime | None = None,
    reason: str = "",
    actor_id: int | None,
) -> WithdrawalChange:
    """Withdraw the student (see the module's rules for a repeat). ``on``: an aware instant, or
    None for now. Raises ``UnknownStudent``; commits when something changed."""
    if on is not None and (on.tzinfo is None or on.utcoffset() is None):
        raise ValueError("a withdrawal date must be timezone-aware")
    student = _locked_student(session, external_id)
    previous = student.withdrawn_at
    if previous is not None and (on is None or on == previous):
        session.rollback()  # releases the row lock; nothing to write
        return WithdrawalChange(student, changed=False, previous=previous)
    now = db_now(session)
    student.withdrawn_at = on.astimezone(UTC) if on is not None else now
    record_event(
        session=session,
        actor_id=actor_id,
        action="roster.withdraw",
        subject_type="student",
        subject_id=student.id,
        at=now,
        details={
            "external_id": student.external_id,
            "old": {"withdrawn_at": _iso(previous)},
            "new": {"withdrawn_at": _iso(student.withdrawn_at)},
            "reason": reason,
        },
    )
    session.commit()
    return WithdrawalChange(student, changed=True, previous=previous)


def reinstate(*, session: Session, external_id: str, actor_id: int | None) -> WithdrawalChange:
    """Put a withdrawn student back on the enrolled roster; a no-op for one who is not withdrawn.
    Raises ``UnknownStudent``; commits when something changed."""
    student = _locked_student(session, external_id)
    previous = student.withdrawn_at
    if previous is None:
        session.rollback()
        return WithdrawalChange(student, changed=False, previous=None)
    now = db_now(session)
    student.withdrawn_at = None
    record_event(
        session=session,
        actor_id=actor_id,
        action="roster.reinstate",
        subject_type="student",
        subject_id=student.id,
        at=now,
        details={
            "external_id": student.external_id,
            "old": {"withdrawn_at": _iso(previous)},
            "new": {"withdrawn_at": None},
        },
    )
    session.commit()
    return WithdrawalChange(student, changed=True, previous=previous)
