"""Importing many extensions from a CSV: ``external_id, coursework, deadline, reason``.

``plan_import`` is pure: it reads the file and checks every line against the roster and the
courseworks it is given, and returns either the extensions to grant or a report naming each bad
line. ``import_extensions`` grants a good file's extensions in one transaction, and stores
nothing at all from a bad one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.courseworks.extension_spec import BadDeadline, parse_deadline
from grader.courseworks.extensions import stage_extension
from grader.courseworks.models import Coursework
from grader.db.clock import db_now
from grader.roster.models import Student

COLUMNS = ("external_id", "coursework", "deadline", "reason")
MAX_LINES = 20_000
MAX_REASON = 2000


@dataclass(frozen=True)
class PlannedExtension:
    line: int
    external_id: str
    coursework: str
    deadline: dt.datetime  # aware UTC
    reason: str


@dataclass(frozen=True)
class ImportPlan:
    extensions: list[PlannedExtension] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "line 3: ..." ; any problem: nothing is stored

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class CourseworkClock:
    """What a line needs of its coursework: its deadline (UTC) and the timezone of its wall times."""

    deadline: dt.datetime | None
    timezone: str


def _rows(text: str) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text))
    rows = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank lines are nobody's extension
        rows.append((reader.line_num, [cell.strip() for cell in row]))
    if rows and [c.lower() for c in rows[0][1][:2]] == list(COLUMNS[:2]):
        rows = rows[1:]  # the header
    return rows


def plan_import(text: str, *, students: Collection[str], courseworks: Mapping[str, CourseworkClock]) -> ImportPlan:
    """Check every line of the CSV. ``students``: the roster's external ids; ``courseworks``: by code."""
    try:
        rows = _rows(text)
    except csv.Error as exc:
        return ImportPlan(problems=[f"the file is not CSV: {exc}"])
    if not rows:
        return ImportPlan(problems=["the file names no extension (columns: " + ", ".join(COLUMNS) + ")"])
    if len(rows) > MAX_LINES:
        return ImportPlan(problems=[f"the file has {len(rows)} lines; at most {MAX_LINES} at once"])
    planned: list[PlannedExtension] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for line, cells in rows:
        if len(cells) not in (3, 4):
            problems.append(f"line {line}: {len(cells)} columns, expected {', '.join(COLUMNS)} (reason optional)")
            continue
        external_id, code, spec = cells[:3]
        reason = cells[3] if len(cells) == 4 else ""
        bad = []
        if external_id not in students:
            bad.append(f"no student {external_id!r} on the roster")
        clock = courseworks.get(code)
        if clock is None:
            bad.append(f"no coursework {code!r}")
        if len(reason) > MAX_REASON or "\x00" in reason:
            bad.append(f"the reason is longer than {MAX_REASON} characters or holds a NUL")
        deadline = None
        if clock is not None:
            try:
                deadline = parse_deadline(spec, coursework_deadline=clock.deadline, tz=clock.timezone)
            except BadDeadline as exc:
                bad.append(str(exc))
        if (external_id, code) in seen:
            bad.append(f"{external_id} on {code} is also on line {seen[(external_id, code)]}")
        seen.setdefault((external_id, code), line)
        if bad:
            problems.append(f"line {line}: " + "; ".join(bad))
        elif deadline is not None:
            planned.append(PlannedExtension(line, external_id, code, deadline, reason))
    if problems:
        return ImportPlan(problems=problems)
    return ImportPlan(extensions=planned)


def import_extensions(
    *, session: Session, text: str, actor_id: int | None, now: dt.datetime | None = None
) -> ImportPlan:
    """Grant every extension of the CSV in one transaction, or none (the plan's problems say why)."""
    courseworks = {c.code: c for c in session.scalars(select(Coursework))}
    clocks = {code: CourseworkClock(c.deadline, c.timezone) for code, c in courseworks.items()}
    plan = plan_import(text, students=_external_ids(session, text), courseworks=clocks)
    if not plan.ok:
        return plan
    now = now or db_now(session)
    students = _students(session, sorted({p.external_id for p in plan.extensions}))
    try:
        for p in plan.extensions:
            stage_extension(
                session=session,
                student=students[p.external_id],
                coursework=courseworks[p.coursework],
                deadline=p.deadline,
                reason=p.reason,
                actor_id=actor_id,
                now=now,
            )
        record_event(
            session=session,
            actor_id=actor_id,
            action="extension.import",
            subject_type="coursework",
            subject_id="-",
            at=now,
            details={"extensions": len(plan.extensions)},
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return plan


def _students(session: Session, external_ids: list[str], chunk: int = 1000) -> dict[str, Student]:
    # Bounded IN lists (SQLite's parameter limit).
    found: dict[str, Student] = {}
    for start in range(0, len(external_ids), chunk):
        rows = session.scalars(select(Student).where(Student.external_id.in_(external_ids[start : start + chunk])))
        found.update({s.external_id: s for s in rows})
    return found


def _external_ids(session: Session, text: str) -> set[str]:
    """The roster's external ids among those the file names."""
    try:
        wanted = sorted({cells[0] for _, cells in _rows(text) if cells})
    except csv.Error:
        return set()
    return set(_students(session, wanted))
