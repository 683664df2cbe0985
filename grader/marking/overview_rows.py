"""The coursework overview's rows kept up to date from the change log, not recomputed per request.

A full overview computes every student's counting submission and total (about 0.2 ms a student in
Python). Each process keeps the last rows it computed per (database, coursework) with the cursor
taken before reading them; a request asks the change log which students changed since that
cursor and recomputes only those. Every write to a table a row is read from is logged by a
trigger in the writer's own transaction, so a saved mark is in the very next request's rows,
whichever process saved it. Without a log (SQLite) every request recomputes everything.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework
from grader.marking.overview import OverviewRow, coursework_overview
from grader.marking.overview_changes import Changes, Cursor, change_cursor, changes_since
from grader.roster.models import Student
from grader.rubrics.model import Rubric


@dataclass(frozen=True)
class CurrentRows:
    rows: list[OverviewRow]  # roster order, as coursework_overview has them
    cursor: Cursor | None  # taken before they were read: changes_since(cursor) is what a holder may lack
    changed: Changes  # what changed since the previous refresh of this process (for tests and benches)


@dataclass
class _Entry:
    rubric: Rubric  # the rows were computed under this rubric and deadline
    deadline: dt.datetime | None
    cursor: Cursor
    rows: dict[int, OverviewRow]  # student id -> row


class OverviewRows:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, int], _Entry] = {}
        self._lock = threading.Lock()  # one refresh at a time: a second waits, then finds little to do

    def forget(self) -> None:
        """Drop every kept row: the next request recomputes them all (the bench's baseline)."""
        with self._lock:
            self._entries.clear()

    def current(self, *, session: Session, rubric: Rubric, coursework: Coursework) -> CurrentRows:
        now = change_cursor(session)
        if now is None:
            return CurrentRows(
                coursework_overview(session=session, rubric=rubric, coursework=coursework), None, Changes.all()
            )
        key = (session.get_bind().engine.url.render_as_string(hide_password=True), coursework.id)
        with self._lock:
            entry = self._entries.get(key)
            usable = entry is not None and entry.rubric is rubric and entry.deadline == coursework.deadline
            changed = changes_since(session, coursework.id, entry.cursor if entry and usable else None, now)
            roster = session.scalars(
                select(Student.id).where(Student.withdrawn_at.is_(None)).order_by(Student.enrolled_at, Student.id)
            ).all()
            cached = {} if changed.everything or entry is None else entry.rows
            stale = [sid for sid in roster if sid in changed.student_ids or sid not in cached]
            fresh = (
                coursework_overview(
                    session=session,
                    rubric=rubric,
                    coursework=coursework,
                    student_ids=None if len(stale) == len(roster) else stale,
                )
                if stale
                else []
            )
            rows = {**cached, **{r.student_id: r for r in fresh}}
            rows = {sid: rows[sid] for sid in roster if sid in rows}  # the withdrawn leave
            self._entries[key] = _Entry(rubric, coursework.deadline, now, rows)
        return CurrentRows(list(rows.values()), now, changed)


OVERVIEW_ROWS = OverviewRows()  # this process's rows; every request checks them against the log
