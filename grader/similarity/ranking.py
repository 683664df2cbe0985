"""The ranked pairs of a cohort, found through an inverted index (fingerprint -> notebooks).

Only pairs that share a fingerprint are ever looked at: the index's posting lists give every such
pair, with the count of fingerprints it shares, in one pass. The skeleton's fingerprints are taken
out first (code the students were given is not a match), and so are fingerprints that more than
``COMMON_SHARE`` of the cohort hold (as MOSS ignores code that appears in many programs: an idiom
everyone writes says nothing about two students, and it would make the index quadratic).

A pair's score is the share of the smaller notebook's fingerprints that the other holds too, with
``MIN_BASIS`` as the smallest denominator so that two near-empty notebooks sharing two lines do not
top the list. Earlier years' notebooks (the archive) are compared with this year's, never with
one another.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

COMMON_SHARE = 0.05  # a fingerprint in more than this share of the cohort's notebooks is common code
COMMON_FLOOR = 10  # ... and in more than this many (a small cohort keeps everything)
MIN_BASIS = 20  # the smallest denominator of a score
MIN_SHARED = 3  # fewer shared fingerprints than this is not listed


@dataclass(frozen=True)
class PairScore:
    a: str  # a notebook's key (this year's, when the other is from the archive)
    b: str
    shared: int  # fingerprints both hold
    score: float  # shared / max(min(|a|, |b|), MIN_BASIS), in [0, 1]
    a_share: float  # share of a's fingerprints that b holds
    b_share: float


@dataclass(frozen=True)
class Prepared:
    """Each notebook's fingerprints with the skeleton's and the common ones taken out."""

    hashes: dict[str, frozenset[int]]
    ignored: frozenset[int]  # the skeleton's and the common fingerprints


def prepare(
    cohort: Mapping[str, frozenset[int]],
    archive: Mapping[str, frozenset[int]] | None = None,
    skeleton: frozenset[int] = frozenset(),
) -> Prepared:
    """Take out the skeleton's fingerprints and those common in this year's cohort."""
    archive = archive or {}
    counts: Counter[int] = Counter()
    for hashes in cohort.values():
        counts.update(hashes - skeleton)
    limit = max(COMMON_SHARE * len(cohort), COMMON_FLOOR)
    common = frozenset(h for h, n in counts.items() if n > limit)
    ignored = skeleton | common
    return Prepared({key: hashes - ignored for key, hashes in {**archive, **cohort}.items()}, ignored)


def rank_pairs(
    cohort: Mapping[str, frozenset[int]],
    archive: Mapping[str, frozenset[int]] | None = None,
    skeleton: frozenset[int] = frozenset(),
    *,
    min_shared: int = MIN_SHARED,
) -> list[PairScore]:
    """Every pair sharing at least ``min_shared`` fingerprints, best first. ``cohort``: this year's
    notebooks by key; ``archive``: earlier years' (keys distinct from the cohort's)."""
    archive = archive or {}
    prepared = prepare(cohort, archive, skeleton)
    postings: dict[int, list[str]] = defaultdict(list)
    for key in cohort:
        for h in prepared.hashes[key]:
            postings[h].append(key)
    old_postings: dict[int, list[str]] = defaultdict(list)
    for key in archive:
        for h in prepared.hashes[key]:
            if h in postings:
                old_postings[h].append(key)
    shared: Counter[tuple[str, str]] = Counter()
    for h, keys in postings.items():
        if len(keys) > 1:
            shared.update(combinations(sorted(keys), 2))
        for old in old_postings.get(h, ()):
            shared.update((key, old) for key in keys)
    return _ranked(shared, prepared.hashes, min_shared)


def rank_all_pairs(
    cohort: Mapping[str, frozenset[int]],
    archive: Mapping[str, frozenset[int]] | None = None,
    skeleton: frozenset[int] = frozenset(),
    *,
    min_shared: int = MIN_SHARED,
) -> list[PairScore]:
    """The same answer as ``rank_pairs`` by intersecting every pair: the baseline the benchmark
    measures the index against (and a check that the index misses nothing)."""
    archive = archive or {}
    prepared = prepare(cohort, archive, skeleton)
    keys = sorted(cohort)
    shared: dict[tuple[str, str], int] = {}
    for a, b in combinations(keys, 2):
        shared[a, b] = len(prepared.hashes[a] & prepared.hashes[b])
    for a in keys:
        for old in archive:
            shared[a, old] = len(prepared.hashes[a] & prepared.hashes[old])
    return _ranked(shared, prepared.hashes, min_shared)


def _ranked(
    shared: Mapping[tuple[str, str], int], hashes: Mapping[str, frozenset[int]], min_shared: int
) -> list[PairScore]:
    pairs = []
    for (a, b), n in shared.items():
        if n < max(min_shared, 1):
            continue
        na, nb = len(hashes[a]), len(hashes[b])
        pairs.append(PairScore(a, b, n, n / max(min(na, nb), MIN_BASIS), n / na, n / nb))
    return sorted(pairs, key=lambda p: (-p.score, -p.shared, p.a, p.b))
