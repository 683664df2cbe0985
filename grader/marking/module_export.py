"""The module's two CSV files, from ``cohort_marks`` (pure: they only format what it computed).

- **registry** (``registry_csv``): the file a registry imports. One row per student on the roster,
  non-submitters and withdrawn students included (``status`` is ``enrolled`` or ``withdrawn``, with
  ``withdrawn_on``; a withdrawn student's coursework and module marks are empty). Per assessed
  coursework its counted total, percentage and weighted share; then the coursework, exam and module
  marks, the whole-number final mark, and the rounding rule (``grader.scoring.rounding``).
- **items** (``items_csv``): per-item marks for moderation and external examiners. One line per
  rubric item, applied or waived penalty, late deduction and total of each student's counting
  submission of each assessed coursework; a line per non-submitter and withdrawn student too.

Columns are data (``(name, value of a row)`` lists), so another column is one more entry. Every cell
goes through ``csv_cells`` (no spreadsheet formulas).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from grader.marking import csv_cells
from grader.marking.cohort import CohortMarks, CourseworkCell, StudentMarks
from grader.scoring.module import Split
from grader.scoring.rounding import ROUNDING_RULE, final_mark, round_half_up

Column = tuple[str, Callable[[StudentMarks], object]]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round_half_up(value)


def _coursework_columns(code: str) -> list[Column]:
    def cell(s: StudentMarks) -> CourseworkCell:
        return next(c for c in s.cells if c.code == code)

    return [
        (f"{code}_status", lambda s: cell(s).status),
        (f"{code}_total", lambda s: cell(s).total),
        (f"{code}_max", lambda s: cell(s).max_score),
        (f"{code}_percent", lambda s: _rounded(cell(s).percent)),
        (f"{code}_weighted", lambda s: _rounded(cell(s).weighted)),
    ]


def registry_columns(cohort: CohortMarks) -> list[Column]:
    columns: list[Column] = [
        ("external_id", lambda s: s.external_id),
        ("name", lambda s: s.name),
        ("email", lambda s: s.email),
        ("status", lambda s: s.status),
        ("withdrawn_on", lambda s: s.withdrawn_at.date().isoformat() if s.withdrawn_at else None),
    ]
    for a in cohort.courseworks:
        columns += _coursework_columns(a.code)
    columns += [
        ("coursework_mark", lambda s: _rounded(s.coursework_mark)),
        ("exam_mark", lambda s: _rounded(s.exam_mark)),
        ("module_mark", lambda s: _rounded(s.module_mark)),
        ("module_mark_final", lambda s: None if s.module_mark is None else final_mark(s.module_mark)),
        ("complete", lambda s: s.complete),
        ("rounding", lambda s: ROUNDING_RULE),
    ]
    return columns


def registry_csv(cohort: CohortMarks) -> str:
    columns = registry_columns(cohort)
    return _write([name for name, _ in columns], ([get(s) for _, get in columns] for s in cohort.students))


@dataclass(frozen=True)
class ItemLine:
    """One line of the per-item file: ``line`` is item, penalty, late, total or none (nothing counted)."""

    student: StudentMarks
    cell: CourseworkCell
    line: str
    id: str = ""
    title: str = ""
    score: float | None = None
    max_score: float | None = None
    auto_score: float | None = None
    source: str = ""


ITEM_COLUMNS: list[tuple[str, Callable[[ItemLine], object]]] = [
    ("external_id", lambda x: x.student.external_id),
    ("name", lambda x: x.student.name),
    ("student_status", lambda x: x.student.status),
    ("coursework", lambda x: x.cell.code),
    ("status", lambda x: x.cell.status),
    ("submission_id", lambda x: str(x.cell.row.submission_id) if x.cell.row and x.cell.row.submission_id else None),
    ("late_minutes", lambda x: x.cell.row.late_minutes if x.cell.row and x.cell.row.submission_id else None),
    ("line", lambda x: x.line),
    ("id", lambda x: x.id),
    ("title", lambda x: x.title),
    ("score", lambda x: x.score),
    ("max_score", lambda x: x.max_score),
    ("auto_score", lambda x: x.auto_score),
    ("source", lambda x: x.source),
]


def item_lines(cohort: CohortMarks) -> Iterator[ItemLine]:
    for student in cohort.students:
        for cell in student.cells:
            detail = cell.row.detail if cell.row else None
            if detail is None:
                yield ItemLine(student, cell, "none")  # no submission, nothing graded yet, or withdrawn
                continue
            for item in detail.items:
                yield ItemLine(
                    student, cell, "item", item.id, item.title, item.score, item.max_score, item.auto_score, item.source
                )
            for p in detail.penalties:
                if p.applied or p.waived or p.marker_decided:
                    source = ("marker" if p.marker_decided else "run") + (" applied" if p.applied else " waived")
                    yield ItemLine(
                        student, cell, "penalty", p.id, p.title, -p.points if p.applied else 0.0, None, None, source
                    )
            if detail.lateness.penalised:
                yield ItemLine(
                    student,
                    cell,
                    "late",
                    "late",
                    "; ".join(detail.notes),
                    round(detail.total - detail.before_late, 4),
                    None,
                    None,
                    "late policy",
                )
            yield ItemLine(student, cell, "total", "total", "coursework total", detail.total, detail.max_score)


def items_csv(cohort: CohortMarks) -> str:
    return _write([name for name, _ in ITEM_COLUMNS], ([get(x) for _, get in ITEM_COLUMNS] for x in item_lines(cohort)))


def _write(header: list[str], rows: Iterable[list[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_cells.row(list(header)))
    for row in rows:
        writer.writerow(csv_cells.row(row))
    return out.getvalue()


def module_table(cohort: CohortMarks) -> dict[str, Any]:
    """The lecturer's table (the API's JSON, the dashboard page): the same rounded numbers as the
    registry file."""
    return {
        "rounding": ROUNDING_RULE,
        "split": {"coursework": Split().coursework, "exam": Split().exam},
        "weights": cohort.weights,
        "problem": cohort.problem,
        "courseworks": [
            {
                "code": a.code,
                "title": a.coursework.title,
                "weight": a.weight,
                "released": a.coursework.released_at is not None,
            }
            for a in cohort.courseworks
        ],
        "students": [
            {
                "external_id": s.external_id,
                "name": s.name,
                "status": s.status,
                "withdrawn_at": s.withdrawn_at,
                "courseworks": [
                    {
                        "code": c.code,
                        "status": c.status,
                        "submission_id": c.row.submission_id if c.row else None,
                        "late_minutes": c.row.late_minutes if c.row and c.row.submission_id else None,
                        "total": c.total,
                        "max_score": c.max_score,
                        "percent": _rounded(c.percent),
                        "weighted": _rounded(c.weighted),
                        "final": c.final,
                    }
                    for c in s.cells
                ],
                "coursework_mark": _rounded(s.coursework_mark),
                "exam_mark": _rounded(s.exam_mark),
                "module_mark": _rounded(s.module_mark),
                "module_mark_final": None if s.module_mark is None else final_mark(s.module_mark),
                "complete": s.complete,
            }
            for s in cohort.students
        ],
    }
