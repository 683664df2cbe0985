"""The feedback sheet a student gets after release, shaped like the course's marking template:
parts, then sections (``1.1a``, ``2.3`` ...: the leading code of an item's title), each item with
got / max and the marker's comment, the part totals (x/50), penalties, the coursework total
(x/100), and each coursework's weighted share of the coursework mark (CW1 0.4, CW2 0.6).

One builder for every reader of the sheet: the student's page (``grader/web/feedback.py``,
``/courseworks/{cw}/feedback``) and a course system's JSON copy of it
(``GET /api/v1/courseworks/{cw}/feedback/{external_id}``), so the two can never differ.

``student_feedback`` reads the gradebook for one student; the rest are pure functions over
``grader.marking.sheet.student_view`` (which already applies the visibility
table: a hidden item brings its name and score, never a message or comment) and the total.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework
from grader.courseworks.service import is_released
from grader.marking.sheet import SubmissionMarks, student_view, submission_marks
from grader.rubrics.model import Rubric
from grader.scoring.module import CourseworkMark, coursework_mark, weights_from_rubrics
from grader.scoring.totals import CourseworkTotal

SECTION = re.compile(r"^(\d+(?:\.\d+)*[a-z]?)\s+(.+)$")


@dataclass(frozen=True)
class SheetItem:
    id: str
    title: str
    score: float | None
    max_score: float
    message: str | None  # the automatic test's message (visible and after-release items)
    comment: str | None  # the marker's comment


@dataclass
class Section:
    code: str  # "1.1a"; "" for items whose title has no code
    items: list[SheetItem] = field(default_factory=list)


@dataclass
class SheetPart:
    id: str
    title: str
    score: float
    max_score: float
    sections: list[Section] = field(default_factory=list)


@dataclass(frozen=True)
class SheetPenalty:
    id: str
    title: str
    points: float
    message: str | None


@dataclass(frozen=True)
class Sheet:
    coursework: str
    title: str
    parts: list[SheetPart]
    penalties: list[SheetPenalty]  # applied ones only: a penalty not applied is not news
    items_score: float
    before_late: float
    late_minutes: int
    late_factor: float
    late_label: str
    total: float
    max_score: float
    weight: float
    notes: list[str]


def split_title(title: str) -> tuple[str, str]:
    match = SECTION.match(title.strip())
    return (match[1], match[2]) if match else ("", title)


def feedback_sheet(rubric: Rubric, view: Mapping[str, Any], total: CourseworkTotal) -> Sheet:
    """The released sheet. ``view`` is ``student_view(rubric, marks, released=True)``."""
    if not view.get("released"):
        raise ValueError("the feedback sheet exists only once the marks are released")
    seen = {entry["id"]: entry for entry in view["items"]}
    part_scores = {p.id: p for p in total.parts}
    parts = []
    for part in rubric.parts:
        line = part_scores.get(part.id)
        sheet_part = SheetPart(part.id, part.title, line.score if line else 0.0, part.points)
        for item in (i for i in rubric.items if i.part == part.id and i.id in seen):
            entry = seen[item.id]
            code, title = split_title(item.title)
            if not sheet_part.sections or sheet_part.sections[-1].code != code:
                sheet_part.sections.append(Section(code))
            sheet_part.sections[-1].items.append(
                SheetItem(item.id, title, entry.get("score"), item.points, entry.get("message"), entry.get("comment"))
            )
        parts.append(sheet_part)
    penalties = [
        SheetPenalty(p["id"], p["title"], p["points"], p.get("message")) for p in view["penalties"] if p.get("applied")
    ]
    return Sheet(
        coursework=rubric.coursework,
        title=rubric.title,
        parts=parts,
        penalties=penalties,
        items_score=total.items_score,
        before_late=total.before_late,
        late_minutes=total.lateness.minutes,
        late_factor=total.lateness.factor,
        late_label=total.lateness.label,
        total=total.total,
        max_score=total.max_score,
        weight=rubric.weight,
        notes=list(view.get("notes") or []),
    )


class NoFeedback(LookupError):
    """There is no sheet for this student (yet). The message says why, for the reader."""


def student_feedback(
    *, session: Session, rubric: Rubric, coursework: Coursework, student_id: int
) -> tuple[Sheet, SubmissionMarks]:
    """The student's released sheet and the marks it was built from, or ``NoFeedback``: before
    release there is none (its totals would carry hidden items), nor for a student who sent nothing."""
    if not is_released(session=session, coursework=coursework, student_id=student_id):
        raise NoFeedback("the marks for this coursework are not released yet.")
    marks = submission_marks(session=session, rubric=rubric, coursework=coursework, student_id=student_id)
    if marks.total is None:
        raise NoFeedback("no submission was marked for this coursework, so there is no feedback sheet.")
    return feedback_sheet(rubric, student_view(rubric, marks, True), marks.total), marks


@dataclass(frozen=True)
class Weighting:
    """Beside the sheet: each assessed coursework's weighted share of the coursework mark, from the
    totals released to this student only (an unreleased coursework counts 0 so far)."""

    mark: CourseworkMark
    titles: dict[str, str]  # coursework code -> title
    released: frozenset[str]  # the codes whose totals are released to the student

    @property
    def so_far(self) -> bool:
        return len(self.released) < len(self.mark.shares)


def weighted_mark(weights: Mapping[str, float], released: Mapping[str, tuple[float, float]]) -> CourseworkMark | None:
    """Each coursework's share of the coursework mark, from the released totals only. None when the
    rubrics' weights do not make a whole (misconfigured)."""
    try:
        return coursework_mark(weights, released)
    except ValueError:
        return None


def student_weighting(
    *, session: Session, courseworks: Iterable[tuple[Rubric, Coursework]], student_id: int
) -> Weighting | None:
    """The weighting a student's feedback page shows and a course system's JSON copy carries: one
    builder for both. Tutorials (unassessed, weight 0) are no part of it; None when the assessed
    rubrics' weights do not make a whole."""
    assessed = [(rubric, row) for rubric, row in courseworks if not rubric.unassessed]
    try:
        weights = weights_from_rubrics(rubric for rubric, _ in assessed)
    except ValueError:
        return None
    released: dict[str, tuple[float, float]] = {}
    for rubric, row in assessed:
        if is_released(session=session, coursework=row, student_id=student_id):
            marks = submission_marks(session=session, rubric=rubric, coursework=row, student_id=student_id)
            if marks.total is not None:
                released[row.code] = (marks.total.total, marks.total.max_score)
    mark = weighted_mark(weights, released)
    if mark is None:
        return None
    return Weighting(mark, {row.code: row.title for _, row in assessed}, frozenset(released))
