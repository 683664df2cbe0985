"""From hidden-test outcomes to item scores, penalties, part totals and the coursework score.

Pure functions: the same outcomes always give the same marks.
"""

from __future__ import annotations

from collections.abc import Mapping

from grader.rubrics.model import AutoSpec, Item, Penalty, Rubric
from grader.scoring.outcomes import (
    ItemResult,
    ItemStatus,
    Marks,
    PartTotal,
    PenaltyResult,
    TestOutcome,
    TestResult,
)

MISSING = TestResult(TestOutcome.missing, 0.0, "this test did not run")


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def test_fraction(result: TestResult, partial: bool) -> float:
    """A test's share of its item. All-or-nothing specs ignore partial credit."""
    if result.outcome is TestOutcome.passed:
        fraction = clamp(result.fraction, 0.0, 1.0)
        return fraction if partial else float(fraction >= 1.0)
    return clamp(result.fraction, 0.0, 1.0) if partial else 0.0


def spec_fraction(spec: AutoSpec, tests: Mapping[str, TestResult]) -> float:
    results = [tests.get(t, MISSING) for t in spec.tests]
    return sum(test_fraction(r, spec.partial) for r in results) / len(results)


def _status(fraction: float, results: list[TestResult]) -> ItemStatus:
    if fraction >= 1.0 - 1e-9:
        return ItemStatus.passed
    if fraction > 0:
        return ItemStatus.partial
    outcomes = {r.outcome for r in results}
    if TestOutcome.timeout in outcomes:
        return ItemStatus.timeout
    if outcomes & {TestOutcome.error, TestOutcome.missing}:
        return ItemStatus.error
    return ItemStatus.failed


def _message(results: list[TestResult]) -> str:
    """The first non-empty message of a test that did not fully pass."""
    for r in results:
        if r.message and (r.outcome is not TestOutcome.passed or r.fraction < 1.0):
            return r.message
    return ""


def _item_result(item: Item, score: float, status: ItemStatus, message: str) -> ItemResult:
    return ItemResult(
        id=item.id,
        part=item.part,
        title=item.title,
        score=score,
        max_score=item.points,
        status=status,
        message=message,
        visibility=item.visibility.value,
        kind=item.kind,
    )


def score_item(item: Item, tests: Mapping[str, TestResult]) -> ItemResult:
    spec = item.auto or item.suggest
    if spec is None:
        return _item_result(item, 0.0, ItemStatus.manual, "")
    results = [tests.get(t, MISSING) for t in spec.tests]
    fraction = spec_fraction(spec, tests)
    if item.suggest is not None:
        # A suggestion is shown to the marker; it counts only once a marker confirms it.
        message = f"suggested {fraction * item.points:g}/{item.points:g}. {_message(results)}".strip()
        return _item_result(item, 0.0, ItemStatus.manual, message)
    score = round(fraction * item.points, 4)
    return _item_result(item, score, _status(fraction, results), _message(results))


def score_penalty(penalty: Penalty, tests: Mapping[str, TestResult]) -> PenaltyResult:
    applied = False
    message = ""
    if penalty.auto is not None:
        results = [tests.get(t, MISSING) for t in penalty.auto.tests]
        applied = any(r.outcome is not TestOutcome.passed for r in results)
        message = _message(results) if applied else ""
    elif penalty.suggest is not None:
        # Evidence only: the marker reads it and applies or waives the penalty; the run never applies it.
        results = [tests.get(t, MISSING) for t in penalty.suggest.tests]
        if any(r.outcome is TestOutcome.failed for r in results):
            message = f"suggested: {_message(results)}".strip()
    return PenaltyResult(
        id=penalty.id,
        title=penalty.title,
        points=penalty.points,
        applied=applied,
        message=message,
        visibility=penalty.visibility.value,
    )


def part_totals(rubric: Rubric, items: list[ItemResult]) -> list[PartTotal]:
    return [
        PartTotal(
            id=p.id, title=p.title, score=round(sum(i.score for i in items if i.part == p.id), 4), max_score=p.points
        )
        for p in rubric.parts
    ]


def auto_marks(rubric: Rubric, tests: Mapping[str, TestResult]) -> Marks:
    items = [score_item(item, tests) for item in rubric.items]
    penalties = [score_penalty(p, tests) for p in rubric.penalties]
    deducted = sum(p.points for p in penalties if p.applied)
    raw = sum(i.score for i in items) - deducted
    return Marks(
        items=items,
        penalties=penalties,
        parts=part_totals(rubric, items),
        score=round(clamp(raw, 0.0, rubric.total_points), 4),
        max_score=rubric.total_points,
        auto_max_score=rubric.auto_max_score,
    )
