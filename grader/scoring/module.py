"""A student's coursework mark over all courseworks, and the module mark with an imported exam.

Pure functions. Marks here are percentages (0..100); coursework totals come in as (score, max).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from grader.rubrics.model import Rubric

TOLERANCE = 1e-9


def _check_weights(weights: Mapping[str, float], what: str) -> None:
    if any(not (0 < w <= 1) for w in weights.values()):
        raise ValueError(f"{what} must each be in (0, 1]: {dict(weights)}")
    total = math.fsum(weights.values())
    if not math.isclose(total, 1.0, rel_tol=0, abs_tol=TOLERANCE):
        raise ValueError(f"{what} must sum to 1, they sum to {total:g}: {dict(weights)}")


def weights_from_rubrics(rubrics: Iterable[Rubric]) -> dict[str, float]:
    """Coursework id -> its weight in the coursework mark, checked to sum to 1."""
    weights: dict[str, float] = {}
    for r in rubrics:
        if r.coursework in weights:
            raise ValueError(f"coursework {r.coursework!r} appears twice")
        weights[r.coursework] = r.weight
    _check_weights(weights, "coursework weights")
    return weights


@dataclass(frozen=True)
class CourseworkShare:
    coursework: str
    weight: float
    score: float | None  # None: not submitted (counts 0)
    max_score: float | None
    contribution: float  # weight x score / max x 100, in percentage points


@dataclass(frozen=True)
class CourseworkMark:
    mark: float  # 0..100
    shares: list[CourseworkShare]


def coursework_mark(weights: Mapping[str, float], totals: Mapping[str, tuple[float, float]]) -> CourseworkMark:
    """Sum over courseworks of weight x (total / max) x 100. A missing coursework counts 0.

    ``totals``: coursework id -> (total, max) of the submission that counts.
    """
    _check_weights(weights, "coursework weights")
    extra = sorted(set(totals) - set(weights))
    if extra:
        raise ValueError(f"totals for courseworks with no weight: {', '.join(extra)}")
    shares = []
    for cw, weight in weights.items():
        if cw not in totals:
            shares.append(CourseworkShare(cw, weight, None, None, 0.0))
            continue
        score, max_score = totals[cw]
        if max_score <= 0 or not (0 <= score <= max_score + TOLERANCE):
            raise ValueError(f"coursework {cw!r}: total {score:g} is outside 0..{max_score:g}")
        fraction = min(score / max_score, 1.0)
        shares.append(CourseworkShare(cw, weight, score, max_score, weight * fraction * 100))
    # fsum so 0.4 x 100 + 0.6 x 100 is exactly 100; the clamp guards the last ulp.
    mark = min(max(math.fsum(s.contribution for s in shares), 0.0), 100.0)
    return CourseworkMark(mark=round(mark, 4), shares=shares)


@dataclass(frozen=True)
class Split:
    """How the module mark is made up (the course: coursework 50 %, exam 50 %)."""

    coursework: float = 0.5
    exam: float = 0.5

    def __post_init__(self) -> None:
        if self.coursework < 0 or self.exam < 0:
            raise ValueError("split weights cannot be negative")
        if not math.isclose(self.coursework + self.exam, 1.0, rel_tol=0, abs_tol=TOLERANCE):
            raise ValueError(f"the module split must sum to 1, got {self.coursework:g} + {self.exam:g}")


def module_mark(coursework: float, exam: float | None, split: Split = Split()) -> float | None:
    """The module mark (0..100) from the coursework mark and an imported exam mark, both 0..100.

    None while no exam mark has been imported: a module mark without the exam would mislead.
    """
    for name, value in (("coursework mark", coursework), ("exam mark", exam)):
        if value is not None and not (0 <= value <= 100):
            raise ValueError(f"the {name} must be within 0..100, got {value:g}")
    if exam is None:
        return None
    return round(min(max(split.coursework * coursework + split.exam * exam, 0.0), 100.0), 4)
