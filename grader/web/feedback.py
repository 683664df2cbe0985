"""The feedback sheet on the student's page: built in the domain (``grader.marking.feedback``,
shared with the API's JSON copy for course systems), re-exported here for the dashboard."""

from __future__ import annotations

from grader.marking.feedback import (
    Section,
    Sheet,
    SheetItem,
    SheetPart,
    SheetPenalty,
    Weighting,
    feedback_sheet,
    split_title,
    student_weighting,
    weighted_mark,
)

__all__ = [
    "Section",
    "Sheet",
    "SheetItem",
    "SheetPart",
    "SheetPenalty",
    "Weighting",
    "feedback_sheet",
    "split_title",
    "student_weighting",
    "weighted_mark",
]
