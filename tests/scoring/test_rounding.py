"""The registry's rounding rule: half up, from the unrounded value, through its decimal text."""

from __future__ import annotations

import pytest

from grader.scoring.rounding import ROUNDING_RULE, final_mark, round_half_up


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (2.345, 2, 2.35),
        (2.675, 2, 2.68),  # stored as 2.67499999...; round() gives 2.67
        (60.75, 2, 60.75),
        (64.5, 0, 65.0),
        (17.5, 0, 18.0),
        (69.49, 0, 69.0),
        (0.0, 2, 0.0),
        (100.0, 0, 100.0),
        (80.40000000000001, 2, 80.4),
    ],
)
def test_round_half_up(value, places, expected):
    assert round_half_up(value, places) == expected


def test_final_mark_is_a_whole_number_half_up():
    assert [final_mark(v) for v in (64.5, 64.4999, 39.5, 0.49)] == [65, 64, 40, 0]
    assert "half up" in ROUNDING_RULE
