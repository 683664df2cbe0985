"""The typed model of ``rubrics/<cw>/rubric.yaml``. Pure data; loading lives in ``loader.py``."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExecutionMode(str, Enum):
    full = "full"  # every cell
    definitions = "definitions"  # imports, functions, classes, constants: no training loops
    none = "none"  # nothing of the student's runs; tests see only files


class Visibility(str, Enum):
    visible = "visible"
    after_release = "after_release"
    hidden = "hidden"


class AutoSpec(Strict):
    """Which hidden tests decide an item. Several tests: the item gets the mean of their fractions."""

    tests: list[str] = Field(min_length=1, description="pytest node ids relative to the hidden suite")
    partial: bool = Field(True, description="keep a test's partial credit; if false, all-or-nothing")
    checked_in_kernel: bool = Field(
        False,
        description="an imported check that runs inside the student's kernel (not tamper-proof; docs/importing.md)",
    )

    @field_validator("tests")
    @classmethod
    def _node_ids(cls, tests: list[str]) -> list[str]:
        for t in tests:
            if "::" not in t or not t.split("::", 1)[0].endswith(".py"):
                raise ValueError(f"{t!r} is not a test id like 'test_file.py::test_name'")
        return tests


class Item(Strict):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    part: str
    title: str
    points: float = Field(gt=0)
    auto: AutoSpec | None = None
    manual: bool = False
    suggest: AutoSpec | None = Field(None, description="auto-suggested; a marker confirms or changes it")
    visibility: Visibility = Visibility.visible

    @model_validator(mode="after")
    def _one_kind(self) -> Item:
        kinds = [self.auto is not None, self.manual, self.suggest is not None]
        if sum(kinds) != 1:
            raise ValueError("an item is exactly one of: auto, manual: true, suggest")
        return self

    @property
    def kind(self) -> Literal["auto", "manual", "suggest"]:
        if self.auto is not None:
            return "auto"
        return "manual" if self.manual else "suggest"


class Penalty(Strict):
    """Points taken off. An automatic penalty applies when its test does not pass; a suggested one
    never applies by itself: its failing test's message is evidence a marker reads before deciding."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    title: str
    points: float = Field(gt=0, description="points deducted when it applies")
    auto: AutoSpec | None = None
    suggest: AutoSpec | None = Field(None, description="evidence for the marker; a marker applies or waives it")
    visibility: Visibility = Visibility.after_release

    @model_validator(mode="after")
    def _at_most_one_spec(self) -> Penalty:
        if self.auto is not None and self.suggest is not None:
            raise ValueError("a penalty is auto, suggest, or marked by hand: not both auto and suggest")
        return self


class Part(Strict):
    id: str
    title: str
    points: float = Field(gt=0)


class LatePolicy(Strict):
    """How lateness changes a mark. ``per_day`` (the default): a share of the mark lost per started
    day. ``cap`` (as UK universities write it): up to ``cap_working_days`` working days late the mark
    is capped at ``cap_fraction`` of the maximum (the pass mark), later it is zero; weekends and
    ``bank_holidays`` are not working days (see docs/extensions.md)."""

    kind: Literal["per_day", "cap"] = "per_day"
    grace_minutes: int = Field(0, ge=0)
    per_day_fraction: float = Field(0.0, ge=0, le=1, description="share of the mark lost per started day late")
    max_days: int = Field(0, ge=0, description="after this many days late the mark is zero")
    cap_fraction: float = Field(0.5, gt=0, le=1, description="cap: the pass mark, a share of the maximum")
    cap_working_days: int = Field(5, ge=0, description="cap: working days late with a capped mark, then zero")
    bank_holidays: tuple[dt.date, ...] = Field(
        (), description="cap: dates (in the rubric's timezone) that are not working days"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> LatePolicy:
        # A cap policy with a per-day fraction would be read two ways; make the author pick one.
        if self.kind == "cap" and (self.per_day_fraction or self.max_days):
            raise ValueError("a cap late policy takes cap_fraction and cap_working_days, not per_day_fraction/max_days")
        return self


class Submission(Strict):
    notebook: str = Field(pattern=r"^[^/\\]+\.ipynb$", description="the notebook's file name")
    files: list[str] = Field(default_factory=list, description="other files required (model files)")
    optional_files: list[str] = Field(default_factory=list)
    max_mb: int = Field(200, ge=1)
    allow_extra_files: bool = Field(
        False,
        description="a repository snapshot (LabTS): the notebook and files are graded at exactly their "
        "names in the snapshot's root; any other file is ignored (never graded) and listed for the marker",
    )


class Resources(Strict):
    queue: Literal["cpu", "gpu"] = "cpu"
    gpu: bool = False
    memory_mb: int | None = Field(None, ge=64)
    time_s: int | None = Field(None, ge=1, description="wall-clock budget for the whole job")
    cell_timeout_s: float | None = Field(None, gt=0)
    notebook_timeout_s: float | None = Field(None, gt=0)
    test_call_timeout_s: float | None = Field(None, gt=0)
    reproducible: bool = Field(
        False,
        description="seed random, numpy and torch (CPU and CUDA) with `seed` and turn on torch's "
        "deterministic algorithms in the student's kernel",
    )
    seed: int = Field(0, ge=0, lt=2**32, description="the kernel's seed when reproducible")
    fallback_queue: Literal["cpu", "gpu"] | None = Field(
        None,
        description="where a run goes when no live worker serves `queue` for `fallback_after` "
        "(a gpu rubric's runs graded on CPU rather than never); default: it waits",
    )
    fallback_after: float | None = Field(
        None, gt=0, description="seconds a run waits on a queue with no live worker before it falls back: 900, 15m, 1h"
    )

    @field_validator("fallback_after", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        """'90s', '15m', '2h' (or a number of seconds), as a lecturer writes it in YAML."""
        if isinstance(value, str):
            text = value.strip().lower()
            units = {"s": 1, "m": 60, "h": 3600}
            number, unit = (text[:-1], units[text[-1]]) if text[-1:] in units else (text, 1)
            try:
                return float(number) * unit
            except ValueError:
                raise ValueError(f"{value!r} is not a duration like 90s, 15m or 1h") from None
        return value

    @model_validator(mode="after")
    def _fallback(self) -> Resources:
        if (self.fallback_queue is None) != (self.fallback_after is None):
            raise ValueError("fallback_queue and fallback_after go together: name the queue and how long to wait")
        if self.fallback_queue is not None and self.fallback_queue == self.queue:
            raise ValueError(f"fallback_queue is {self.fallback_queue!r}, the queue itself: name another queue")
        return self


class Rubric(Strict):
    coursework: str = Field(pattern=r"^[a-z0-9_\-]+$")
    title: str
    version: str = "1"
    weight: float = Field(
        ge=0, le=1, description="share of the coursework mark (CW1 0.4, CW2 0.6); 0: unassessed (a tutorial)"
    )
    total_points: float = Field(gt=0)
    deadline: dt.datetime | None = None
    timezone: str = "Europe/London"
    late_policy: LatePolicy = Field(default_factory=LatePolicy)
    submission: Submission
    mode: ExecutionMode = ExecutionMode.definitions
    resources: Resources = Field(default_factory=Resources)
    parts: list[Part] = Field(min_length=1)
    items: list[Item] = Field(min_length=1)
    penalties: list[Penalty] = Field(default_factory=list)
    submissions_per_hour: int | None = Field(
        None,
        ge=1,
        description="upload attempts per student and hour for this coursework; unset: the service's limit "
        "(`submissions_per_hour`, or `tutorial_submissions_per_hour` when unassessed)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Rubric:
        part_ids = [p.id for p in self.parts]
        if len(set(part_ids)) != len(part_ids):
            raise ValueError("part ids must be unique")
        ids = [i.id for i in self.items] + [p.id for p in self.penalties]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"item and penalty ids must be unique; repeated: {', '.join(dupes)}")
        for item in self.items:
            if item.part not in part_ids:
                raise ValueError(f"item {item.id!r} names part {item.part!r}, which is not in parts")
        for part in self.parts:
            got = sum(i.points for i in self.items if i.part == part.id)
            if abs(got - part.points) > 1e-9:
                raise ValueError(f"part {part.id!r} declares {part.points:g} points but its items add up to {got:g}")
        parts_total = sum(p.points for p in self.parts)
        if abs(parts_total - self.total_points) > 1e-9:
            raise ValueError(f"total_points is {self.total_points:g} but the parts add up to {parts_total:g}")
        if self.unassessed:
            problems = unassessed_problems(self)
            if problems:
                raise ValueError("an unassessed rubric (weight 0) " + "; ".join(problems))
        return self

    @property
    def unassessed(self) -> bool:
        """Weight 0: a tutorial. Never in a coursework or module mark; its feedback is shown at once."""
        return self.weight == 0

    @property
    def auto_items(self) -> list[Item]:
        return [i for i in self.items if i.auto is not None]

    @property
    def auto_max_score(self) -> float:
        return sum(i.points for i in self.auto_items)

    def test_ids(self) -> set[str]:
        """Every hidden test the rubric relies on."""
        ids: set[str] = set()
        specs = [i.auto for i in self.items] + [i.suggest for i in self.items]
        for spec in specs + [p.auto for p in self.penalties] + [p.suggest for p in self.penalties]:
            if spec is not None:
                ids.update(spec.tests)
        return ids


def unassessed_problems(rubric: Rubric) -> list[str]:
    """What an unassessed rubric may not have: all its feedback is shown the moment grading ends and no
    marker ever looks at it, so nothing may wait for a release or for a marker, and nothing is late."""
    problems = []
    held = [i.id for i in rubric.items if i.visibility is not Visibility.visible]
    held += [p.id for p in rubric.penalties if p.visibility is not Visibility.visible]
    if held:
        problems.append(f"shows everything at once: make these visible: {', '.join(held)}")
    by_hand = [i.id for i in rubric.items if i.kind != "auto"] + [p.id for p in rubric.penalties if p.auto is None]
    if by_hand:
        problems.append(f"has no marker: these need one (manual or suggest): {', '.join(by_hand)}")
    # Compared with the default rather than field by field, so a policy kind added later is caught too.
    if rubric.late_policy.model_dump(exclude={"grace_minutes"}) != LatePolicy().model_dump(exclude={"grace_minutes"}):
        problems.append("has no late penalty: its deadline, if any, is a soft one (drop late_policy)")
    return problems
