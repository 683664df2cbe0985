"""Reading a new deadline as a lecturer writes it. Pure, no I/O.

Three forms: ``+N minutes`` (also ``+N``, ``+N hours``, ``+N days``), counted from the coursework's
own deadline; an instant with an offset (``2026-03-30T16:00:00+01:00``, ``...Z``); or a local wall
time with none (``2026-03-30 16:00``), read in the coursework's timezone. A wall time the clocks
skip is refused (``NonexistentLocalTime``); one they repeat means its later occurrence.
"""

from __future__ import annotations

import datetime as dt
import re

from grader.scoring.lateness import NonexistentLocalTime, to_utc

RELATIVE = re.compile(r"^\+\s*(\d{1,6})\s*(m|min|mins|minute|minutes|h|hour|hours|d|day|days)?$", re.IGNORECASE)
UNIT_MINUTES = {"m": 1, "h": 60, "d": 24 * 60}


class BadDeadline(ValueError):
    """A new deadline that cannot be read, or cannot be an extension."""


def parse_deadline(text: str, *, coursework_deadline: dt.datetime | None, tz: str) -> dt.datetime:
    """The extension's deadline as an aware UTC instant. Raises ``BadDeadline`` with a sentence."""
    text = (text or "").strip()
    if not text:
        raise BadDeadline("no new deadline given")
    if coursework_deadline is None:
        raise BadDeadline("this coursework has no deadline, so an extension changes nothing")
    match = RELATIVE.match(text)
    if match:
        unit = (match[2] or "m")[0].lower()
        minutes = int(match[1]) * UNIT_MINUTES[unit]
        if minutes <= 0:
            raise BadDeadline(f"{text!r}: an extension must add time")
        # Real elapsed time from the deadline: "+1440 minutes" across a clock change is 24 hours.
        return coursework_deadline.astimezone(dt.UTC) + dt.timedelta(minutes=minutes)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise BadDeadline(
            f"{text!r} is not a deadline: write +N minutes, an ISO time with an offset, or a local time "
            "such as 2026-03-30 16:00"
        ) from None
    try:
        deadline = to_utc(when, tz)
    except NonexistentLocalTime as exc:
        raise BadDeadline(str(exc)) from None
    except (OverflowError, ValueError) as exc:
        raise BadDeadline(f"{text!r} is not a usable time: {exc}") from None
    if deadline <= coursework_deadline.astimezone(dt.UTC):
        raise BadDeadline(
            f"{text!r} is not after the coursework's deadline ({coursework_deadline.astimezone(dt.UTC).isoformat()}): "
            "an extension can only move the deadline later"
        )
    return deadline
