"""The regrade preview's comparison of two totals (pure): the total's move and each item or penalty that moves."""

from __future__ import annotations

from gradebook_factory import RUBRIC

from grader.marking.regrade_diff import total_diff
from grader.scoring.lateness import late_factor
from grader.scoring.totals import coursework_total


def total(auto: dict[str, float], penalties: set[str] = frozenset(), marker: dict[str, float] | None = None):
    return coursework_total(RUBRIC, auto, marker or {}, set(penalties), {}, late_factor(0, RUBRIC.late_policy))


def test_the_items_and_penalties_that_move_and_the_total():
    old = total({"conv": 4, "pool": 0}, {"lib"}, {"disc": 3})
    new = total({"conv": 3, "pool": 2}, set(), {"disc": 3})
    diff = total_diff(old, new)
    assert (diff.old, diff.new, diff.delta, diff.max_score) == (4, 8, 4, 10)
    assert [(i.id, i.kind, i.old, i.new, i.delta) for i in diff.items] == [
        ("conv", "item", 4, 3, -1),
        ("pool", "item", 0, 2, 2),
        ("lib", "penalty", 3, 0, -3),
    ]
    assert diff.changed


def test_items_that_trade_places_change_the_mark_though_the_total_stays():
    diff = total_diff(total({"conv": 4, "pool": 0}), total({"conv": 2, "pool": 2}))
    assert diff.delta == 0 and diff.changed and {i.id for i in diff.items} == {"conv", "pool"}


def test_the_same_scores_change_nothing():
    diff = total_diff(total({"conv": 4, "pool": 1}), total({"conv": 4, "pool": 1}))
    assert not diff.changed and diff.items == []
