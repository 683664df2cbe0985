"""The feedback sheet on the student's page: the sheet itself is built in the domain
(``grader.marking.feedback``, shared with the API's JSON copy); here, the weighting shown beside it.
"""

from __future__ import annotations

from collections.abc import Mapping

from grader.marking.feedback import Section, Sheet, SheetItem, SheetPart, SheetPenalty, feedback_sheet, split_title
from grader.scoring.module import CourseworkMark, coursework_mark

__all__ = [
    "Section",
    "Sheet",
    "SheetItem",
    "SheetPart",
    "SheetPenalty",
    "feedback_sheet",
    "split_title",
    "weighted_mark",
]


def weighted_mark(weights: Mapping[str, float], released: Mapping[str, tuple[float, float]]) -> CourseworkMark | None:
    """Each coursework's share of the coursework mark, from the released totals only (an unreleased
    coursework counts 0 so far). None when the rubrics' weights do not make a whole (misconfigured)."""
    try:
        return coursework_mark(weights, released)
    except ValueError:
        return None
