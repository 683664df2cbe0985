"""What hidden tests see of the judge: the errors ``student.run`` raises, partial credit, and what
the ``models`` and ``artifacts`` fixtures hand back or raise."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal


class StudentError(Exception):
    """Something went wrong on the student's side of a ``student.run`` call."""


class StudentException(StudentError):
    """The student's code raised. ``name`` and ``message`` are the student's, capped: untrusted text."""

    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}" if message else name)
        self.name = name
        self.message = message


class StudentTimeout(StudentError):
    """The call ran past its timeout; the kernel was interrupted, or restarted with definitions replayed."""

    def __init__(self, timeout: float, restarted: bool = False):
        how = "the kernel was restarted" if restarted else "the kernel was interrupted"
        super().__init__(f"timed out after {timeout:g}s; {how}")
        self.timeout = timeout
        self.restarted = restarted


class StudentCrashed(StudentError):
    """The student's kernel died (it was restarted if the restart budget allowed)."""

    def __init__(self, message: str = "the kernel died", restarted: bool = False):
        super().__init__(message)
        self.restarted = restarted


class ProtocolViolation(StudentError):
    """The student side broke the protocol (garbage, oversize, a dead runner). The run is over."""


def _fraction(value: float) -> float:
    value = float(value)
    if math.isnan(value):
        raise ValueError("credit fraction is NaN")
    return min(1.0, max(0.0, value))


class Credit:
    """Partial credit for one test (the ``credit`` fixture).

    ``partial(f)`` sets a floor: the test scores at least ``f`` even if it fails later; the
    highest floor wins. ``score(f)`` is the test's score if it passes (the last call wins);
    a passing test without one scores 1. A failing test without a floor scores 0.
    """

    def __init__(self) -> None:
        self.floor = 0.0
        self.floor_message = ""
        self.pass_score: float | None = None
        self.score_message = ""
        self.frozen = False  # set by the judge once the run is over (protocol violation)

    def partial(self, fraction: float, message: str = "") -> None:
        fraction = _fraction(fraction)
        if self.frozen:
            return
        if fraction > self.floor or (fraction == self.floor and not self.floor_message):
            self.floor, self.floor_message = fraction, str(message)

    def score(self, fraction: float, message: str = "") -> None:
        fraction = _fraction(fraction)
        if self.frozen:
            return
        self.pass_score, self.score_message = fraction, str(message)

    def fraction(self, passed: bool) -> float:
        if passed:
            return max(self.floor, 1.0 if self.pass_score is None else self.pass_score)
        return self.floor


class ArtifactError(ValueError):
    """An artifact could not be drawn: a bad name, an array of the wrong shape or type, or over a cap.
    A hidden test that lets it escape fails with this message (it names shapes, never values)."""


@dataclass(frozen=True)
class ModelInfo:
    """A submitted model file as ``models.inspect(name)`` describes it, established in a sandbox of
    its own where no student code runs (see docs/hidden-tests.md)."""

    name: str
    present: bool
    loads: bool
    kind: Literal["state_dict", "torchscript"] | None = None
    parameters: int | None = None  # every stored tensor, any dtype, as max(elements, bytes / 4) (inspect_models)
    tensors: dict[str, list[int]] = field(default_factory=dict)  # state_dict key -> shape
    error: str = ""  # why it does not load, for the student
