"""Plain result types of a grading run. No I/O, no framework imports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class TestOutcome(str, Enum):
    __test__ = False  # not a pytest test class
    passed = "passed"
    failed = "failed"
    error = "error"
    timeout = "timeout"
    skipped = "skipped"
    missing = "missing"  # the rubric names a test the suite did not report


class ItemStatus(str, Enum):
    passed = "passed"
    partial = "partial"
    failed = "failed"
    timeout = "timeout"
    error = "error"
    manual = "manual"  # awaiting a marker; scores 0 until marked


@dataclass(frozen=True)
class TestResult:
    """One hidden test as the judge saw it."""

    __test__ = False

    outcome: TestOutcome
    fraction: float = 0.0  # 0..1, partial credit already applied
    message: str = ""
    duration_s: float = 0.0


@dataclass(frozen=True)
class ItemResult:
    id: str
    part: str
    title: str
    score: float
    max_score: float
    status: ItemStatus
    message: str
    visibility: str
    kind: str  # auto | manual | suggest

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        return d


@dataclass(frozen=True)
class PenaltyResult:
    id: str
    title: str
    points: float  # deducted when applied (positive number)
    applied: bool
    message: str
    visibility: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PartTotal:
    id: str
    title: str
    score: float
    max_score: float


@dataclass
class Marks:
    """Item scores, penalties and totals for the auto part of one submission."""

    items: list[ItemResult]
    penalties: list[PenaltyResult]
    parts: list[PartTotal]
    score: float  # auto items minus applied penalties, clamped to [0, max_score]
    max_score: float  # every point of the coursework, auto and manual
    auto_max_score: float
    notes: list[str] = field(default_factory=list)
