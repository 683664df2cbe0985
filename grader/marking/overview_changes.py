"""Which overview rows changed since a cursor, read from the trigger-written ``overview_changes``.

A cursor is a Postgres snapshot (``xmin:xmax:xip,...``, taken with ``pg_current_snapshot``) before
the rows it stands for were read. A logged change is new to its holder exactly when its
transaction is not visible in that snapshot: committed after it was taken, or still running then.
A long transaction elsewhere on the server costs nothing but a longer index range. SQLite has
no snapshots (no cursor, None): its readers read everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

SNAPSHOT = re.compile(r"(\d{1,19}):(\d{1,19}):((?:\d{1,19}(?:,\d{1,19})*)?)")
MAX_CURSOR = 4000  # characters: a snapshot of a server with a few hundred running transactions


@dataclass(frozen=True)
class Cursor:
    """A snapshot: every transaction below ``xmin`` had ended, ``xip`` were running, none from ``xmax`` on had begun."""

    xmin: int
    xmax: int
    xip: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.xmin}:{self.xmax}:{','.join(map(str, self.xip))}"

    @classmethod
    def parse(cls, value: str) -> Cursor | None:
        """None for anything Postgres would not read as a snapshot (never an error: an unknown cursor)."""
        match = SNAPSHOT.fullmatch(value) if len(value) <= MAX_CURSOR else None
        if match is None:
            return None
        xmin, xmax = int(match[1]), int(match[2])
        xip = tuple(int(x) for x in match[3].split(",")) if match[3] else ()
        in_order = all(a <= b for a, b in zip(xip, xip[1:], strict=False))
        if not 0 < xmin <= xmax < 2**63 or not in_order or any(not xmin <= x < xmax for x in xip):
            return None
        return cls(xmin, xmax, xip)


@dataclass(frozen=True)
class Changes:
    everything: bool  # the cursor is unusable, or a change touched every row of the coursework
    student_ids: frozenset[int] = frozenset()

    @classmethod
    def all(cls) -> Changes:
        return cls(everything=True)


def change_cursor(session: Session) -> Cursor | None:
    """A cursor for "now", to take before reading what it stands for; None without a change log."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    cursor = Cursor.parse(str(session.scalar(text("SELECT pg_current_snapshot()::text"))))
    assert cursor is not None, "Postgres gave a snapshot we cannot read"
    return cursor


def changes_since(session: Session, coursework_id: int, cursor: Cursor | None, now: Cursor | None) -> Changes:
    """The students whose rows of ``coursework_id`` changed since ``cursor`` (``now``: a cursor
    taken in this request). Everything when there is no log, no cursor, or one from the future
    (another server, a restored database)."""
    if cursor is None or now is None or cursor.xmax > now.xmax:
        return Changes.all()
    touched = session.execute(
        text(
            "SELECT DISTINCT coursework_id, student_id FROM overview_changes"
            " WHERE changed_xid >= :xmin AND (coursework_id = :cw OR coursework_id IS NULL)"
            " AND NOT pg_visible_in_snapshot(changed_xid::text::xid8, CAST(:snapshot AS pg_snapshot))"
        ),
        {"xmin": cursor.xmin, "cw": coursework_id, "snapshot": str(cursor)},
    ).all()
    if any(student_id is None for _, student_id in touched):
        return Changes.all()
    return Changes(everything=False, student_ids=frozenset(student_id for _, student_id in touched))
