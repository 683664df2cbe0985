"""A coursework's marks as CSV: one row per enrolled student, roster order, non-submitters included.

One builder for the API (``GET /courseworks/{cw}/export.csv``), the dashboard and the CLI
(``grader export``), so they can never drift. ``marks_csv`` is pure; ``coursework_csv`` reads the
gradebook for it. Every cell goes through ``csv_cells.cell``: text that a spreadsheet would run as
a formula is quoted, numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework
from grader.courseworks.service import is_released
from grader.marking import csv_cells
from grader.marking.sheet import SubmissionMarks, submission_marks
from grader.roster.models import Student
from grader.roster.service import roster
from grader.rubrics.model import Rubric

EXPORT_COLUMNS = [
    "external_id",
    "name",
    "email",
    "status",
    "submission_id",
    "received_at",
    "late_minutes",
    "auto_score",
    "total",
    "max_score",
    "complete",
    # The course system's reference on the counting submission (CATe; LabTS).
    "cate_submission_id",
    "labts_repository",
    "labts_commit",
]


def marks_csv(rows: Iterable[tuple[Student, SubmissionMarks, bool]]) -> str:
    """The CSV text (CRLF line ends, as RFC 4180 has them); always at least the header row. Each row
    is (student, marks, shown): a row not shown keeps its submission and leaves the marks empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_cells.row(list(EXPORT_COLUMNS)))
    for student, marks, shown in rows:
        writer.writerow(
            csv_cells.row(
                [student.external_id, student.name, student.email, marks.status, *_marks(marks, shown), *_refs(marks)]
            )
        )
    return out.getvalue()


def coursework_csv(*, session: Session, rubric: Rubric, coursework: Coursework, released_only: bool = False) -> str:
    """``released_only``: the export a student-view token gets, each student's marks only once
    released to them (before, their auto score and total include hidden items)."""
    return marks_csv(
        (
            student,
            submission_marks(session=session, rubric=rubric, coursework=coursework, student_id=student.id),
            not released_only or is_released(session=session, coursework=coursework, student_id=student.id),
        )
        for student in roster(session=session)
    )


def _marks(marks: SubmissionMarks, shown: bool) -> list[object]:
    sub, total = marks.submission, marks.total
    if sub is None or total is None:
        return [None] * 7
    if not shown:
        return [str(sub.id), sub.received_at.isoformat(), sub.late_minutes, None, None, None, None]
    return [
        str(sub.id),
        sub.received_at.isoformat(),
        sub.late_minutes,
        _float(marks.run.score if marks.run else None),
        _float(total.total),
        _float(total.max_score),
        total.complete,
    ]


def _refs(marks: SubmissionMarks) -> list[object]:
    sub = marks.submission
    return [None] * 3 if sub is None else [sub.cate_submission_id, sub.labts_repository, sub.labts_commit]


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)
