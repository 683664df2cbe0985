"""How a student's coursework total would change if another run stood for their submission: the
regrade preview's comparison (pure functions over two ``CourseworkTotal``s, no I/O).

Both totals are built by the same ``coursework_total`` from the same markers' marks, overrides,
penalty decisions and lateness, only the run differs; so a difference is the new suite's alone."""

from __future__ import annotations

from dataclasses import dataclass

from grader.scoring.totals import CourseworkTotal

EPS = 1e-9


@dataclass(frozen=True)
class ItemDiff:
    """One rubric item (or penalty, ``kind`` penalty) whose score differs between the two totals."""

    id: str
    kind: str  # item | penalty
    old: float
    new: float

    @property
    def delta(self) -> float:
        return round(self.new - self.old, 4)


@dataclass(frozen=True)
class TotalDiff:
    old: float
    new: float
    max_score: float
    items: list[ItemDiff]

    @property
    def delta(self) -> float:
        return round(self.new - self.old, 4)

    @property
    def changed(self) -> bool:
        """The total or any item's score moves (an item's can move while the total stays put)."""
        return abs(self.new - self.old) > EPS or bool(self.items)


def total_diff(old: CourseworkTotal, new: CourseworkTotal) -> TotalDiff:
    """``old`` -> ``new``: the totals and every item and penalty whose score differs, rubric order."""
    old_items = {i.id: i.score for i in old.items}
    items = [
        ItemDiff(i.id, "item", old_items.get(i.id, 0.0), i.score)
        for i in new.items
        if abs(i.score - old_items.get(i.id, 0.0)) > EPS
    ]
    old_pen = {p.id: (p.points if p.applied else 0.0) for p in old.penalties}
    for p in new.penalties:
        before, after = old_pen.get(p.id, 0.0), p.points if p.applied else 0.0
        if abs(after - before) > EPS:
            items.append(ItemDiff(p.id, "penalty", before, after))
    return TotalDiff(round(old.total, 4), round(new.total, 4), new.max_score, items)
