"""How marks are rounded for people and for the registry. Pure.

Marks are kept unrounded (to 4 decimal places, as ``grader.scoring.module`` computes them) and
rounded only where they are shown or exported, each from the unrounded value, never from another
rounded one: half up (2.345 -> 2.35, 69.5 -> 70), the rule UK registries use.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

SHOWN_PLACES = 2  # marks shown and exported: 2 decimal places
ROUNDING_RULE = (
    "marks are computed unrounded; each exported mark is rounded half up to 2 decimal places, "
    "module_mark_final to a whole number, each from the unrounded value"
)


def round_half_up(value: float, places: int = SHOWN_PLACES) -> float:
    """``value`` rounded half up (away from zero at .5) to ``places`` decimals.

    Through the shortest decimal text of the float, so 2.675 (stored as 2.67499999...) rounds to
    2.68 as a person reading "2.675" expects; Python's round() would give 2.67.
    """
    step = Decimal(1).scaleb(-places)
    return float(Decimal(repr(value)).quantize(step, rounding=ROUND_HALF_UP))


def final_mark(value: float) -> int:
    """The whole-number mark a registry records."""
    return int(round_half_up(value, 0))
