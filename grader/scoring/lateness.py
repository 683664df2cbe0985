"""Deadlines, receipt times, late minutes and the late policy. Pure functions, no I/O.

Every instant these functions return is timezone-aware UTC; naive datetimes are accepted only
where they mean a rubric's local wall-clock time (deadlines and extensions), never for receipts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from grader.rubrics.model import LatePolicy, Rubric

UTC = dt.UTC
MINUTE = dt.timedelta(minutes=1)
DAY_MINUTES = 24 * 60


class NonexistentLocalTime(ValueError):
    """A wall-clock time skipped by the clocks going forward (01:00-02:00 on the last Sunday of March)."""


def to_utc(when: dt.datetime, tz: str = "Europe/London") -> dt.datetime:
    """A deadline as an aware UTC instant. Naive means wall-clock time in ``tz``; aware is kept.

    An ambiguous wall time (01:30 on the last Sunday of October happens twice) means its second,
    later occurrence: the deadline passes when the clock last shows it, so no student is late
    because of how we read the clock. A wall time that never happens (clocks going forward) is
    refused rather than guessed: whoever set it must pick a real time.
    """
    if when.tzinfo is not None:
        return when.astimezone(UTC)
    zone = ZoneInfo(tz)
    first = when.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != when:
        raise NonexistentLocalTime(f"{when.isoformat()} does not exist in {tz} (the clocks go forward then)")
    return max(when.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))


def _aware(when: dt.datetime, what: str) -> dt.datetime:
    # A naive receipt time would silently take the server's zone; refuse it instead.
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {when.isoformat()}")
    return when.astimezone(UTC)


def student_deadline(rubric: Rubric, extension: dt.datetime | None = None) -> dt.datetime | None:
    """The deadline that applies to one student, in UTC; None when the coursework has none.

    An extension is a new deadline (naive = the rubric's timezone). It can only move the deadline
    later: an extension entered by mistake before the deadline never makes a student late.
    """
    if rubric.deadline is None:
        return None  # no deadline: nothing is late, an extension changes nothing
    base = to_utc(rubric.deadline, rubric.timezone)
    if extension is None:
        return base
    return max(base, to_utc(extension, rubric.timezone))


def received_at(ours: dt.datetime, stated: dt.datetime | None = None, *, by_service: bool = False) -> dt.datetime:
    """The receipt time lateness is computed from.

    A course system forwarding a submission late may state when it received the file. That time
    is trusted only from a service token (a student could claim any time), and only when it is
    not later than our own receipt (a forwarder cannot make a submission later than we saw it).
    """
    ours = _aware(ours, "our receipt time")
    if stated is None or not by_service:
        return ours
    return min(ours, _aware(stated, "the stated receipt time"))


def late_minutes(received: dt.datetime, deadline: dt.datetime | None) -> int:
    """Whole minutes after the deadline; a started minute counts. 0 when on time or no deadline.

    Exactly at the deadline is on time. Arithmetic is on UTC instants, so a deadline on the day
    of the clock change is neither an hour short nor an hour long.
    """
    if deadline is None:
        return 0
    delta = _aware(received, "the receipt time") - _aware(deadline, "the deadline")
    if delta <= dt.timedelta(0):
        return 0
    return -((-delta) // MINUTE)  # ceiling on exact timedeltas, no float rounding


@dataclass(frozen=True)
class Lateness:
    minutes: int  # minutes after the deadline (0 = on time); recorded even when forgiven
    days: int  # started days late counted by the policy (0 = on time or within grace); working days for cap
    factor: float  # what the coursework total is multiplied by: 1 = no loss, 0 = zero
    zeroed: bool  # later than max_days: the mark is zero
    cap_fraction: float | None = None  # cap policy: the total is at most this share of the maximum
    waived: bool = False  # mitigating circumstances: late, but the policy's penalty is not applied

    @property
    def late(self) -> bool:
        return self.minutes > 0

    @property
    def penalised(self) -> bool:
        return self.factor < 1.0 or self.cap_fraction is not None

    def apply(self, mark: float, max_score: float) -> float:
        """The mark after this lateness: multiplied by the factor, then capped (cap policy)."""
        mark = mark * self.factor
        if self.cap_fraction is not None:
            mark = min(mark, self.cap_fraction * max_score)
        return mark

    @property
    def label(self) -> str:
        """How markers see it in the late column."""
        if not self.late:
            return "on time"
        if self.waived:
            return "late, penalty waived"
        if self.zeroed:
            return "late, mark zero"
        if self.cap_fraction is not None:
            return f"late, capped at {self.cap_fraction:.0%}"
        return "late" if self.factor == 1.0 else f"late, x{self.factor:g}"


ON_TIME = Lateness(minutes=0, days=0, factor=1.0, zeroed=False)


def late_factor(minutes: int, policy: LatePolicy) -> Lateness:
    """Apply the late policy to a number of late minutes.

    - Within ``grace_minutes`` nothing is lost (upload latency, a slow course system).
    - Beyond grace, days are counted from the deadline itself, not from the end of the grace:
      grace forgives, it does not move the deadline. Every started day loses ``per_day_fraction``
      of the mark the student earned (a share of the mark, not of the maximum).
    - More than ``max_days`` started days late: zero. ``max_days`` 0 means no cut-off (the rubric
      default; a "no late work" policy is ``per_day_fraction: 1``).
    """
    if minutes < 0:
        raise ValueError("late minutes cannot be negative")
    if minutes == 0:
        return ON_TIME
    if minutes <= policy.grace_minutes:
        return Lateness(minutes=minutes, days=0, factor=1.0, zeroed=False)
    days = math.ceil(minutes / DAY_MINUTES)
    if policy.max_days and days > policy.max_days:
        return Lateness(minutes=minutes, days=days, factor=0.0, zeroed=True)
    factor = round(max(0.0, 1.0 - policy.per_day_fraction * days), 9)  # 1 - 0.1*3 is 0.7000000000000001
    return Lateness(minutes=minutes, days=days, factor=factor, zeroed=factor == 0.0)


def assess(received: dt.datetime, deadline: dt.datetime | None, policy: LatePolicy) -> Lateness:
    """Late minutes and the policy's verdict for one receipt against one (student's) deadline."""
    return late_factor(late_minutes(received, deadline), policy)


def _is_working_day(day: dt.date, holidays: Collection[dt.date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def _wall_instant(local: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    # The deadline's wall time on another day; one the clocks skip (or repeat) is read as
    # ``astimezone`` does (fold 0, an hour on): a day boundary is never refused.
    return local.replace(tzinfo=zone).astimezone(UTC)


def working_days_late(
    received: dt.datetime, deadline: dt.datetime, tz: str = "Europe/London", holidays: Collection[dt.date] = ()
) -> int:
    """Started working days after the deadline.

    Day k runs from the deadline's wall time on the k-th calendar day after the deadline to the
    same wall time a day later, in ``tz`` (so across a clock change a day is 23 or 25 hours and a
    16:00 deadline's days still end at 16:00). A day counts when the submission came after it
    started and it starts on a working day (Monday to Friday, not in ``holidays``). Late at all
    means at least one day: work sent on a Saturday for a Saturday deadline is one day late.
    """
    received = _aware(received, "the receipt time")
    deadline = _aware(deadline, "the deadline")
    if received <= deadline:
        return 0
    zone = ZoneInfo(tz)
    local = deadline.astimezone(zone).replace(tzinfo=None)
    days, k = 0, 0
    while True:
        start_local = local + dt.timedelta(days=k)
        if _wall_instant(start_local, zone) >= received:
            break
        if _is_working_day(start_local.date(), holidays):
            days += 1
        k += 1
    return max(days, 1)


def cap_lateness(minutes: int, working_days: int, policy: LatePolicy) -> Lateness:
    """The cap policy: within grace nothing; up to ``cap_working_days`` working days the mark is
    capped at ``cap_fraction`` of the maximum; later, zero."""
    if minutes < 0 or working_days < 0:
        raise ValueError("lateness cannot be negative")
    if minutes == 0:
        return ON_TIME
    if minutes <= policy.grace_minutes:
        return Lateness(minutes=minutes, days=0, factor=1.0, zeroed=False)
    if working_days > policy.cap_working_days:
        return Lateness(minutes=minutes, days=working_days, factor=0.0, zeroed=True)
    return Lateness(minutes=minutes, days=working_days, factor=1.0, zeroed=False, cap_fraction=policy.cap_fraction)


def waived(lateness: Lateness) -> Lateness:
    """Mitigating circumstances: the lateness stays recorded, its penalty is not applied."""
    if not lateness.late:
        return lateness
    return Lateness(minutes=lateness.minutes, days=lateness.days, factor=1.0, zeroed=False, waived=True)


def policy_lateness(
    policy: LatePolicy,
    *,
    minutes: int,
    received: dt.datetime | None = None,
    deadline: dt.datetime | None = None,
    tz: str = "Europe/London",
    penalty_waived: bool = False,
) -> Lateness:
    """The late policy's verdict on one submission, whichever kind the rubric names.

    ``minutes`` are the stored late minutes (against the student's own deadline); a cap policy also
    needs the receipt and that deadline to count working days. ``penalty_waived``: the lecturer
    recorded mitigating circumstances for this student and coursework.
    """
    if policy.kind == "cap" and minutes > 0:
        if received is None or deadline is None:
            raise ValueError("a cap late policy needs the receipt time and the student's deadline")
        verdict = cap_lateness(minutes, working_days_late(received, deadline, tz, policy.bank_holidays), policy)
    else:
        verdict = late_factor(minutes, policy)
    return waived(verdict) if penalty_waived else verdict
