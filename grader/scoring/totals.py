"""One submission's coursework total: auto and marker item scores, penalties, clamp, late policy.

Pure functions. Inputs are plain mappings keyed by the rubric's ids, so the gradebook, the CLI and
tests can all build them; ``auto_inputs`` turns a grading run's ``Marks`` into them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from grader.rubrics.model import Item, Rubric
from grader.scoring.lateness import ON_TIME, Lateness
from grader.scoring.outcomes import Marks, PartTotal

EPS = 1e-9


@dataclass(frozen=True)
class ItemLine:
    id: str
    part: str
    title: str
    score: float
    max_score: float
    # auto: the run's score; override: a marker replaced it; manual: a marker's mark;
    # pending: an auto item with no run result yet; unmarked: awaiting a marker (counts 0)
    source: str
    auto_score: float | None  # the run's score, kept beside an override for the sheet
    visibility: str


@dataclass(frozen=True)
class PenaltyLine:
    id: str
    title: str
    points: float
    applied: bool
    auto_applied: bool  # the run applied it
    marker_decided: bool  # a marker applied it, or waived the run's (applied=False)
    visibility: str

    @property
    def waived(self) -> bool:
        return self.auto_applied and not self.applied


@dataclass(frozen=True)
class CourseworkTotal:
    coursework: str
    items: list[ItemLine]
    parts: list[PartTotal]  # item scores per part, before penalties (as on the marked sheet)
    penalties: list[PenaltyLine]
    items_score: float  # sum of item scores
    penalty_points: float  # sum of applied penalties
    before_late: float  # items - penalties, clamped to [0, max_score]
    lateness: Lateness
    total: float  # before_late x the late factor
    max_score: float
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every item has a score (no run result or marker mark still missing)."""
        return all(i.source not in ("pending", "unmarked") for i in self.items)


def auto_inputs(marks: Marks) -> tuple[dict[str, float], set[str]]:
    """(auto item scores, ids of applied penalties) from a grading run's marks."""
    scores = {i.id: i.score for i in marks.items if i.kind == "auto"}
    return scores, {p.id for p in marks.penalties if p.applied}


def _checked(what: str, value: float, item: Item) -> float:
    if not (-EPS <= value <= item.points + EPS):
        raise ValueError(f"{what} for item {item.id!r} is {value:g}, outside 0..{item.points:g}")
    return min(max(value, 0.0), item.points)


def _unknown(kind: str, given: Collection[str], known: Collection[str]) -> None:
    # A mark for an id the rubric lacks (a renamed item, a typo) must not vanish silently.
    extra = sorted(set(given) - set(known))
    if extra:
        raise ValueError(f"{kind} not in the rubric: {', '.join(extra)}")


def _item_line(item: Item, auto: Mapping[str, float], marker: Mapping[str, float]) -> ItemLine:
    auto_score = _checked("the auto score", auto[item.id], item) if item.kind == "auto" and item.id in auto else None
    if item.id in marker:
        score = _checked("the marker's score", marker[item.id], item)
        source = "override" if item.kind == "auto" else "manual"
    elif item.kind == "auto":
        score, source = (auto_score, "auto") if auto_score is not None else (0.0, "pending")
    else:
        # Manual and auto-suggested items count only once a marker has marked or confirmed them.
        score, source = 0.0, "unmarked"
    return ItemLine(
        id=item.id,
        part=item.part,
        title=item.title,
        score=score,
        max_score=item.points,
        source=source,
        auto_score=auto_score,
        visibility=item.visibility.value,
    )


def coursework_total(
    rubric: Rubric,
    auto_scores: Mapping[str, float],
    marker_scores: Mapping[str, float] | None = None,
    auto_penalties: Collection[str] = (),
    penalty_decisions: Mapping[str, bool] | None = None,
    lateness: Lateness = ON_TIME,
) -> CourseworkTotal:
    """The coursework total of one submission.

    ``auto_scores``: item id -> the run's score (only auto items are read; manual and suggested
    items score nothing until marked). ``marker_scores``: item id -> a marker's mark; for an auto
    item it is an override and wins over the run. ``auto_penalties``: ids the run applied.
    ``penalty_decisions``: penalty id -> True (a marker applies it) or False (a marker waives it);
    a decision wins over the run. Penalties are the rubric's own; there are no ad-hoc ones.
    """
    marker_scores = marker_scores or {}
    penalty_decisions = penalty_decisions or {}
    item_ids = [i.id for i in rubric.items]
    penalty_ids = [p.id for p in rubric.penalties]
    _unknown("scored items", [*auto_scores, *marker_scores], item_ids)
    _unknown("penalties", [*auto_penalties, *penalty_decisions], penalty_ids)

    items = [_item_line(i, auto_scores, marker_scores) for i in rubric.items]
    penalties = []
    for p in rubric.penalties:
        by_run = p.id in auto_penalties
        decided = p.id in penalty_decisions
        penalties.append(
            PenaltyLine(
                id=p.id,
                title=p.title,
                points=p.points,
                applied=penalty_decisions[p.id] if decided else by_run,
                auto_applied=by_run,
                marker_decided=decided,
                visibility=p.visibility.value,
            )
        )

    items_score = sum(i.score for i in items)
    penalty_points = sum(p.points for p in penalties if p.applied)
    before_late = min(max(items_score - penalty_points, 0.0), rubric.total_points)
    parts = [
        PartTotal(
            id=p.id, title=p.title, score=round(sum(i.score for i in items if i.part == p.id), 4), max_score=p.points
        )
        for p in rubric.parts
    ]
    notes = []
    if lateness.waived:
        notes.append(f"submitted {lateness.minutes} minutes late: penalty waived (mitigating circumstances)")
    elif lateness.penalised:
        if lateness.zeroed:
            outcome = "mark is zero"
        elif lateness.cap_fraction is not None:
            outcome = f"mark capped at {lateness.cap_fraction * rubric.total_points:g} (the pass mark)"
        else:
            outcome = f"mark multiplied by {lateness.factor:g}"
        unit = "working days" if rubric.late_policy.kind == "cap" else "started days"
        notes.append(f"submitted {lateness.minutes} minutes late ({lateness.days} {unit}): {outcome}")
    return CourseworkTotal(
        coursework=rubric.coursework,
        items=items,
        parts=parts,
        penalties=penalties,
        items_score=round(items_score, 4),
        penalty_points=round(penalty_points, 4),
        before_late=round(before_late, 4),
        lateness=lateness,
        # Rounding is monotone, so it keeps the bounds and the monotonicity properties.
        total=round(lateness.apply(before_late, rubric.total_points), 4),
        max_score=rubric.total_points,
        notes=notes,
    )
