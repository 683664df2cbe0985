"""The module's marks for every student: each assessed coursework's counted total, the coursework
mark, the exam mark and the module mark. The one data path behind the lecturer's module page, its
JSON, the registry file and the per-item file, and (per coursework) the marks export.

Per coursework the rows come from ``coursework_overview``, the function the markers' overview shows
(the submission that counts under the deadline and the student's extension, the late policy,
overrides, markers' marks and penalty decisions, totalled by ``grader.scoring.totals``). The
dashboard may pass its kept rows (``OVERVIEW_ROWS``) instead: the same function's output, refreshed
from the change log. Weights come from the rubrics; a weight-0 coursework (an unassessed tutorial)
never enters a mark. ``student_marks`` is pure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework
from grader.marking.exam_marks import exam_marks
from grader.marking.overview import OverviewRow, coursework_overview
from grader.roster.models import Student
from grader.rubrics.model import Rubric
from grader.scoring.module import coursework_mark, module_mark, weights_from_rubrics

# (rubric, coursework, student ids or None for all) -> the overview's rows
Overview = Callable[[Rubric, Coursework, Collection[int] | None], list[OverviewRow]]


def fresh_overview(session: Session) -> Overview:
    """Rows computed now from the gradebook (the exports, the CLI, a student's own view)."""

    def rows(rubric: Rubric, coursework: Coursework, student_ids: Collection[int] | None) -> list[OverviewRow]:
        return coursework_overview(session=session, rubric=rubric, coursework=coursework, student_ids=student_ids)

    return rows


@dataclass(frozen=True)
class Assessed:
    rubric: Rubric
    coursework: Coursework

    @property
    def code(self) -> str:
        return self.coursework.code

    @property
    def weight(self) -> float:
        return self.rubric.weight


def assessed(courseworks: Iterable[tuple[Rubric, Coursework]]) -> list[Assessed]:
    """The courseworks that count toward the coursework mark, by code: weight above 0. Unassessed
    tutorials (weight 0) are left out here, where the weights are gathered, and so never count."""
    return sorted((Assessed(r, c) for r, c in courseworks if r.weight > 0), key=lambda a: a.code)


@dataclass(frozen=True)
class CourseworkCell:
    code: str
    weight: float
    row: OverviewRow | None  # None: the student has withdrawn (no overview row)

    @property
    def status(self) -> str:
        return self.row.status if self.row else "withdrawn"

    @property
    def total(self) -> float | None:
        return self.row.total if self.row else None

    @property
    def max_score(self) -> float | None:
        return self.row.max_score if self.row else None

    @property
    def percent(self) -> float | None:
        """total / max x 100, unrounded; None when nothing is graded (a non-submitter counts 0)."""
        if self.row is None or self.row.total is None or self.row.max_score <= 0:
            return None
        return round(min(self.row.total / self.row.max_score, 1.0) * 100, 4)

    @property
    def weighted(self) -> float | None:
        """Its share of the coursework mark in percentage points (weight x percent); 0 for nothing graded."""
        if self.row is None:
            return None
        return round(self.weight * (self.percent or 0.0), 4)

    @property
    def final(self) -> bool:
        """Its mark will not change by marking: no submission, or graded with every item marked."""
        return self.row is not None and (
            self.row.submission_id is None or (self.row.total is not None and self.row.complete)
        )


@dataclass(frozen=True)
class StudentMarks:
    student_id: int
    external_id: str
    name: str
    email: str | None
    withdrawn_at: dt.datetime | None
    cells: list[CourseworkCell]
    coursework_mark: float | None  # 0..100 unrounded; None: withdrawn, or the weights are unusable
    complete: bool  # every assessed coursework's mark is final
    exam_mark: float | None
    module_mark: float | None  # None until an exam mark is imported

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None

    @property
    def status(self) -> str:
        return "withdrawn" if self.withdrawn else "enrolled"


@dataclass(frozen=True)
class CohortMarks:
    courseworks: list[Assessed]
    weights: dict[str, float] | None  # None: they do not make a coursework mark (see ``problem``)
    students: list[StudentMarks]  # roster order, withdrawn students included
    problem: str | None = None


def student_marks(
    student: Student, cells: list[CourseworkCell], weights: dict[str, float] | None, exam: float | None
) -> StudentMarks:
    """One student's marks from their cells. A withdrawn student keeps their exam mark (a fact
    imported) but gets no coursework or module mark: the registry records the withdrawal instead."""
    mark = None
    if weights is not None and student.withdrawn_at is None:
        totals = {
            c.code: (c.row.total, c.row.max_score) for c in cells if c.row is not None and c.row.total is not None
        }
        mark = coursework_mark(weights, totals).mark  # a missing coursework counts 0
    return StudentMarks(
        student_id=student.id,
        external_id=student.external_id,
        name=student.name,
        email=student.email,
        withdrawn_at=student.withdrawn_at,
        cells=cells,
        coursework_mark=mark,
        complete=student.withdrawn_at is None and all(c.final for c in cells),
        exam_mark=exam,
        module_mark=module_mark(mark, exam) if mark is not None else None,
    )


def cohort_marks(
    *,
    session: Session,
    courseworks: Iterable[tuple[Rubric, Coursework]],
    overview: Overview | None = None,
    student_ids: Collection[int] | None = None,
) -> CohortMarks:
    """Every student's module marks (only ``student_ids`` when given), roster order, the withdrawn
    included. ``overview`` gives each coursework's rows (default: computed now)."""
    overview = overview or fresh_overview(session)
    chosen = assessed(courseworks)
    weights: dict[str, float] | None
    problem = None
    try:
        weights = weights_from_rubrics(a.rubric for a in chosen)
    except ValueError as exc:
        weights, problem = None, f"no coursework mark can be computed: the assessed {exc}"
    query = select(Student).order_by(Student.enrolled_at, Student.id)
    if student_ids is not None:
        query = query.where(Student.id.in_(student_ids))
    students = list(session.scalars(query))
    rows = {a.code: {r.student_id: r for r in overview(a.rubric, a.coursework, student_ids)} for a in chosen}
    exams = exam_marks(session=session)
    marks = [
        student_marks(
            s,
            [CourseworkCell(a.code, a.weight, rows[a.code].get(s.id)) for a in chosen],
            weights,
            exams.get(s.id),
        )
        for s in students
    ]
    return CohortMarks(chosen, weights, marks, problem)
