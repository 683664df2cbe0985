"""Which rubric item a run's artifact belongs to, and which of a run's artifacts a reader may see
(pure functions over the rubric and the run's rows).

A hidden test draws an artifact (a PNG from the student's outputs); the judge records the test
whose body drew it, and the rubric maps that test to the item it scores. The visibility table (docs/security.md)
then decides what a student (or a token with the student view) sees: a ``visible`` item's artifacts
at any time, an ``after_release`` item's once the marks are released to them, a ``hidden`` item's
never ("never its message or output"), and one that belongs to no item (drawn in a fixture, or by a
test no item is scored by, a penalty's included) never. Staff see every artifact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from grader.rubrics.model import Rubric, Visibility

if TYPE_CHECKING:  # rows are only read here; `grader grade` uses item_for_test without the ORM
    from grader.runs.models import GradingRun, RunArtifact

# How little of an item a student sees, least first: of several items a test scores, the artifact
# goes to the one shown least, so sharing a test never shows a picture earlier than any of them.
_RESERVE = {Visibility.visible.value: 0, Visibility.after_release.value: 1, Visibility.hidden.value: 2}


def item_for_test(rubric: Rubric, test_id: str | None) -> str | None:
    """The id of the item whose automatic or suggested score ``test_id`` decides; None if none does."""
    if test_id is None:
        return None
    scored = [
        item for item in rubric.items if (spec := item.auto or item.suggest) is not None and test_id in spec.tests
    ]
    if not scored:
        return None
    return max(scored, key=lambda item: _RESERVE[item.visibility.value]).id  # ties: the rubric's first


def shown_to_student(visibility: str | None, *, released: bool) -> bool:
    """Whether a student sees the output of an item of this visibility (None: no item)."""
    if visibility == Visibility.visible.value:
        return True
    return released and visibility == Visibility.after_release.value


def artifacts_for_reader(run: GradingRun, *, student_view: bool, released: bool) -> list[RunArtifact]:
    """The run's artifacts this reader may see, in the order they were drawn. ``released``: the
    marks are released to the run's student. Visibility is the item's as the run graded it."""
    if not student_view:
        return list(run.artifacts)
    visibility = {row.item_id: row.visibility for row in run.items}
    return [
        a
        for a in run.artifacts
        if a.item_id is not None and shown_to_student(visibility.get(a.item_id), released=released)
    ]
