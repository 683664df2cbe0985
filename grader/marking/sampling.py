"""Pure choices about who marks and what is moderated: an even random allocation of students to
markers, the mark band of a total, and a stratified moderation sample. All reproducible: the same
inputs and seed give the same answer.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

# The UK degree-classification bands, as fractions of the maximum: markers' judgements differ most
# at their edges, so moderation looks at every one.
BANDS: tuple[tuple[float, str], ...] = (
    (0.70, "70%+"),
    (0.60, "60–69%"),
    (0.50, "50–59%"),
    (0.40, "40–49%"),
    (0.0, "under 40%"),
)
UNMARKED = "not graded"


def even_split(student_ids: Sequence[int], marker_ids: Sequence[int], seed: int) -> dict[int, int]:
    """Student -> marker: the students shuffled with ``seed``, then dealt to the markers in turn,
    so no marker has more than one student more than another."""
    if not marker_ids:
        raise ValueError("choose at least one marker")
    students = sorted(set(student_ids))
    random.Random(seed).shuffle(students)
    markers = sorted(set(marker_ids))
    return {sid: markers[n % len(markers)] for n, sid in enumerate(students)}


def band(total: float | None, maximum: float) -> str:
    if total is None or maximum <= 0:
        return UNMARKED
    share = total / maximum
    return next(label for low, label in BANDS if share >= low - 1e-9)


@dataclass(frozen=True)
class Candidate:
    key: int  # the student id
    band: str
    marker: Hashable  # the marker's id, or None for nobody yet


def sample_size(population: int, percent: float, minimum: int) -> int:
    """``percent`` of the population rounded up, at least ``minimum``, at most everyone."""
    return min(population, max(math.ceil(population * percent / 100 - 1e-9), minimum))


def stratified_sample(candidates: Sequence[Candidate], size: int, seed: int) -> list[Candidate]:
    """``size`` candidates spread over the strata (band x marker): first one from each stratum,
    largest strata first, then the rest in proportion to what each stratum has left (largest
    remainder). Within a stratum the picks are a seeded shuffle. Sorted by band then key."""
    strata: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
    for c in sorted(candidates, key=lambda c: c.key):
        strata[(c.band, repr(c.marker))].append(c)
    rng = random.Random(seed)
    keys = sorted(strata)
    for k in keys:
        rng.shuffle(strata[k])
    size = min(size, sum(len(v) for v in strata.values()))
    quota = dict.fromkeys(keys, 0)
    for k in sorted(keys, key=lambda k: (-len(strata[k]), k))[:size]:
        quota[k] = 1
    left = size - sum(quota.values())
    spare = {k: len(strata[k]) - quota[k] for k in keys}
    if left > 0:
        share = {k: left * spare[k] / sum(spare.values()) for k in keys}
        for k in keys:
            quota[k] += int(share[k])
        rest = left - sum(int(v) for v in share.values())
        for k in sorted(keys, key=lambda k: (-(share[k] - int(share[k])), k))[:rest]:
            quota[k] += 1
    picked = [c for k in keys for c in strata[k][: quota[k]]]
    order = {label: n for n, (_, label) in enumerate(BANDS)}
    return sorted(picked, key=lambda c: (order.get(c.band, len(order)), c.key))
