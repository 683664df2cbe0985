"""Importing exam marks from a CSV by external id, all or nothing.

``parse_exam_csv`` is pure: the file's rows, or every problem with its line number. ``import_exam_marks``
adds the check only the gradebook can make (is the id on the roster?) and stores the file only when
nothing at all is wrong, so a half-imported file can never be mistaken for a whole one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.db.clock import db_now
from grader.marking.module_models import ExamMark
from grader.roster.models import Student

ID_COLUMNS = ("external_id",)
MARK_COLUMNS = ("mark", "exam_mark")
MAX_PROBLEMS_SHOWN = 200  # a wrong file (another module's) would list every line; the count says the rest


@dataclass(frozen=True)
class ExamRow:
    line: int  # the file's line number, for the report
    external_id: str
    mark: float


class ExamImportRefused(ValueError):
    """The file was refused and nothing was stored; ``problems`` names every bad line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        tail = f"; and {more} more" if more else ""
        super().__init__(f"the exam marks file was refused, nothing was stored: {'; '.join(shown)}{tail}")


@dataclass(frozen=True)
class ExamImportResult:
    rows: int
    created: int
    updated: int
    unchanged: int


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    cleaned = [h.strip().lstrip("\ufeff").casefold() for h in header]
    return next((cleaned.index(n) for n in names if n in cleaned), None)


def parse_mark(text: str) -> float | None:
    """A mark 0..100 as written in the file, or None when it is not one (empty, words, nan, inf)."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and 0 <= value <= 100 else None


def parse_exam_csv(text: str) -> tuple[list[ExamRow], list[str]]:
    """The rows of an exam marks file (a header naming ``external_id`` and ``mark``, other columns
    ignored, blank lines skipped) and every problem found, each naming its line."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return [], [f"line 1: not CSV ({exc})"]
    if header is None or not any(h.strip() for h in header):
        return [], ["the file is empty: expected a header row with external_id and mark"]
    id_col, mark_col = _column(header, ID_COLUMNS), _column(header, MARK_COLUMNS)
    if id_col is None or mark_col is None:
        return [], [f"line 1: the header must name the columns external_id and mark, it has {', '.join(header)}"]
    rows: list[ExamRow] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) <= max(id_col, mark_col):
                problems.append(f"line {line}: too few columns")
                continue
            ext, raw = cells[id_col].strip(), cells[mark_col]
            if not ext:
                problems.append(f"line {line}: no external id")
                continue
            mark = parse_mark(raw)
            if mark is None:
                problems.append(f"line {line}: {ext}: the mark {raw.strip()!r} is not a number from 0 to 100")
            if ext in first_line:
                problems.append(f"line {line}: {ext} appears again (first on line {first_line[ext]})")
                continue
            first_line[ext] = line
            if mark is not None:
                rows.append(ExamRow(line, ext, mark))
    except csv.Error as exc:
        problems.append(f"line {reader.line_num}: not CSV ({exc})")
    if not rows and not problems:
        problems.append("the file has a header but no marks")
    return rows, problems


def import_exam_marks(
    *, session: Session, text: str, actor_id: int | None, source: str = "", now: dt.datetime | None = None
) -> ExamImportResult:
    """Store every mark of the file, replacing a student's earlier one; or, if any line is wrong
    (an id not on the roster, a duplicate, a mark that is not 0..100), raise ``ExamImportRefused``
    with every problem and store nothing. Audited with each changed student's old and new mark."""
    rows, problems = parse_exam_csv(text)
    ids = {r.external_id for r in rows}
    students = dict(session.execute(select(Student.external_id, Student.id).where(Student.external_id.in_(ids))).all())
    problems += [f"line {r.line}: {r.external_id} is not on the roster" for r in rows if r.external_id not in students]
    if problems:
        session.rollback()
        raise ExamImportRefused(sorted(problems, key=_line_number))
    now = now or db_now(session)
    current = {
        m.student_id: m for m in session.scalars(select(ExamMark).where(ExamMark.student_id.in_(students.values())))
    }
    created = updated = unchanged = 0
    changes: dict[str, list[float | None]] = {}
    for row in rows:
        student_id = students[row.external_id]
        held = current.get(student_id)
        if held is not None and held.mark == row.mark:
            unchanged += 1
            continue
        changes[row.external_id] = [held.mark if held else None, row.mark]
        if held is None:
            session.add(
                ExamMark(
                    student_id=student_id, mark=row.mark, source=source[:200], imported_by_id=actor_id, imported_at=now
                )
            )
            created += 1
        else:
            held.mark, held.source, held.imported_by_id, held.imported_at = row.mark, source[:200], actor_id, now
            updated += 1
    record_event(
        session=session,
        actor_id=actor_id,
        action="exam.import",
        subject_type="module",
        subject_id="exam",
        at=now,
        details={"source": source, "rows": len(rows), "created": created, "updated": updated, "changes": changes},
    )
    session.commit()
    return ExamImportResult(len(rows), created, updated, unchanged)


def exam_marks(*, session: Session) -> dict[int, float]:
    """Student id -> their current exam mark."""
    return dict(session.execute(select(ExamMark.student_id, ExamMark.mark)).all())


def _line_number(problem: str) -> int:
    head = problem.split(":", 1)[0]
    return int(head[5:]) if head.startswith("line ") and head[5:].isdigit() else 0
