"""A coursework's marks as CSV: one row per enrolled student, roster order, non-submitters included.

One builder for the API (``GET /courseworks/{cw}/export.csv``), the dashboard and the CLI
(``grader export``), so they can never drift. Its numbers come from ``coursework_overview``, the
rows the markers' overview and the module's marks (``grader.marking.cohort``) are built from: one
data path. ``marks_csv`` is pure; ``coursework_csv`` reads the gradebook for it. Columns are data
(``EXPORT_FIELDS``: a name and how to read it from a row), so a new column is one entry. Every cell
goes through ``csv_cells.cell``: text that a spreadsheet would run as a formula is quoted, numbers
stay numbers.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework
from grader.courseworks.service import is_released
from grader.marking import csv_cells
from grader.marking.overview import OverviewRow, coursework_overview
from grader.roster.models import Student
from grader.roster.service import roster
from grader.rubrics.model import Rubric
from grader.submissions.models import Submission

Refs = tuple[str | None, str | None, str | None]  # the CATe id; the LabTS repository and commit


@dataclass(frozen=True)
class ExportRow:
    student: Student
    row: OverviewRow
    shown: bool  # False: the submission is listed, its marks left empty (not released to a student view)
    refs: Refs = (None, None, None)

    @property
    def submitted(self) -> bool:
        return self.row.submission_id is not None

    @property
    def graded(self) -> bool:
        return self.submitted and self.row.total is not None

    @property
    def status(self) -> str:
        """no_submission, pending (nothing graded yet) or graded, as the sheet names them."""
        if not self.submitted:
            return "no_submission"
        return "graded" if self.graded else "pending"

    def mark(self, value: object) -> object:
        """A marks cell: empty unless shown, and (``graded``) unless a run has graded the submission."""
        return value if self.graded and self.shown else None

    def listed(self, value: object) -> object:
        """A cell every shown submission has, graded or not."""
        return value if self.submitted and self.shown else None


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


EXPORT_FIELDS: list[tuple[str, Callable[[ExportRow], object]]] = [
    ("external_id", lambda r: r.student.external_id),
    ("name", lambda r: r.student.name),
    ("email", lambda r: r.student.email),
    ("status", lambda r: r.status),
    ("submission_id", lambda r: str(r.row.submission_id) if r.submitted else None),
    ("received_at", lambda r: r.row.received_at.isoformat() if r.submitted and r.row.received_at else None),
    ("late_minutes", lambda r: r.row.late_minutes if r.submitted else None),
    ("auto_score", lambda r: r.mark(_float(r.row.auto_score))),
    ("total", lambda r: r.mark(_float(r.row.total))),
    ("max_score", lambda r: r.listed(_float(r.row.max_score))),
    ("complete", lambda r: r.listed(r.row.complete)),
    # The course system's reference on the counting submission (CATe; LabTS).
    ("cate_submission_id", lambda r: r.refs[0]),
    ("labts_repository", lambda r: r.refs[1]),
    ("labts_commit", lambda r: r.refs[2]),
]
EXPORT_COLUMNS = [name for name, _ in EXPORT_FIELDS]


def marks_csv(rows: Iterable[ExportRow]) -> str:
    """The CSV text (CRLF line ends, as RFC 4180 has them); always at least the header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_cells.row(list(EXPORT_COLUMNS)))
    for r in rows:
        writer.writerow(csv_cells.row([get(r) for _, get in EXPORT_FIELDS]))
    return out.getvalue()


def coursework_csv(*, session: Session, rubric: Rubric, coursework: Coursework, released_only: bool = False) -> str:
    """``released_only``: the export a student-view token gets, each student's marks only once
    released to them (before, their auto score and total include hidden items)."""
    rows = {r.student_id: r for r in coursework_overview(session=session, rubric=rubric, coursework=coursework)}
    refs = _references(session, [r.submission_id for r in rows.values() if r.submission_id is not None])
    return marks_csv(
        ExportRow(
            student,
            rows[student.id],
            not released_only or is_released(session=session, coursework=coursework, student_id=student.id),
            refs.get(rows[student.id].submission_id, (None, None, None)),
        )
        for student in roster(session=session)
        if student.id in rows
    )


def _references(session: Session, submission_ids: list[uuid.UUID]) -> dict[uuid.UUID | None, Refs]:
    """The course systems' references of the counting submissions, read in one query."""
    if not submission_ids:
        return {}
    found = session.execute(
        select(
            Submission.id, Submission.cate_submission_id, Submission.labts_repository, Submission.labts_commit
        ).where(Submission.id.in_(submission_ids))
    )
    return {sid: (cate, repo, commit) for sid, cate, repo, commit in found}
