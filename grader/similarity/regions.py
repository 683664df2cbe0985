"""The matching regions of one pair, for the side-by-side view: which lines of which cells hold
the fingerprints the two notebooks share (the skeleton's and the common ones left out).

A region is a run of lines in one cell covered by shared fingerprints (k-grams that touch or
overlap merge). Each region on the left is linked to the region on the right that holds most of its
fingerprints, so the view can number them alike.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from grader.similarity.fingerprints import Document, Fingerprint, K


@dataclass(frozen=True)
class Region:
    cell: int  # the index of the code cell
    first_line: int  # 1-based, inclusive
    last_line: int
    hashes: frozenset[int]


@dataclass(frozen=True)
class Match:
    number: int  # 1, 2 ... in the left notebook's order
    left: Region
    right: Region | None  # None: the right's copies of these lines are spread over several regions


@dataclass(frozen=True)
class SideBySide:
    matches: list[Match]
    left_lines: dict[int, dict[int, int]]  # cell -> line -> match number
    right_lines: dict[int, dict[int, int]]


def regions(doc: Document, shared: frozenset[int]) -> list[Region]:
    """The line runs of ``doc`` covered by fingerprints in ``shared``, in notebook order."""
    spans: list[tuple[int, int, int, int]] = []  # cell, first line, last line, hash
    for f in doc.fingerprints:
        if f.hash in shared:
            first, last = _lines(doc, f)
            spans.append((f.cell, first, last, f.hash))
    spans.sort()
    out: list[Region] = []
    for cell, first, last, h in spans:
        prev = out[-1] if out else None
        if prev is not None and prev.cell == cell and first <= prev.last_line + 1:
            out[-1] = Region(cell, prev.first_line, max(prev.last_line, last), prev.hashes | {h})
        else:
            out.append(Region(cell, first, last, frozenset({h})))
    return out


def _lines(doc: Document, f: Fingerprint) -> tuple[int, int]:
    tokens = doc.tokens[f.cell]
    return tokens[f.first].line, tokens[f.first + K - 1].end_line


def side_by_side(left: Document, right: Document, ignored: frozenset[int] = frozenset()) -> SideBySide:
    """The regions both notebooks share, numbered, with each line's match number per side."""
    shared = (left.hashes & right.hashes) - ignored
    lefts, rights = regions(left, shared), regions(right, shared)
    matches = []
    for number, region in enumerate(lefts, start=1):
        overlap = Counter({i: len(region.hashes & r.hashes) for i, r in enumerate(rights)})
        best = overlap.most_common(1)
        matches.append(Match(number, region, rights[best[0][0]] if best and best[0][1] else None))
    left_lines: dict[int, dict[int, int]] = {}
    right_lines: dict[int, dict[int, int]] = {}
    for m in matches:
        _mark(left_lines, m.left, m.number)
        if m.right is not None:
            _mark(right_lines, m.right, m.number)
    for r in rights:  # a right region no left region chose as its best still shows as matching
        for line in range(r.first_line, r.last_line + 1):
            right_lines.setdefault(r.cell, {}).setdefault(line, 0)
    return SideBySide(matches, left_lines, right_lines)


def _mark(lines: dict[int, dict[int, int]], region: Region, number: int) -> None:
    cell = lines.setdefault(region.cell, {})
    for line in range(region.first_line, region.last_line + 1):
        cell.setdefault(line, number)
