"""What a reader may see of one grading run's outcome: its score, its error, the "visible
score", and a pre-check's verdict (pure functions over the run's rows).

A run's ``score`` is every automatic item (hidden and after-release ones too) minus the penalties
the run applied, so before release a student who reads it and subtracts the visible items learns
the hidden ones. The visibility table (docs/security.md) therefore gives a student (and a token with the student
view) before release only the **visible score**: the visible automatic items' scores over their
points. The full score comes with the release. An infrastructure error's text (it can carry the
tail of the judge's pytest output and hidden test ids) is never shown to a student, released or
not: they get ``INFRASTRUCTURE_ERROR_FOR_STUDENTS``; staff keep the text. A submission error (the
file itself is unusable) is about the student's own file and is shown as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.runs.models import GradingRun, RunStatus

INFRASTRUCTURE_ERROR_FOR_STUDENTS = (
    "grading failed on our side; it will be retried (or the course team will look at it). Your submission is safe."
)


@dataclass(frozen=True)
class RunOutcome:
    """A run's numbers and error as one reader may see them; None is withheld (or not known yet)."""

    score: float | None  # every automatic item minus penalties (staff; students after release)
    max_score: float | None  # every point of the coursework, manual included
    visible_score: float | None  # the visible automatic items only
    visible_max_score: float | None  # what the visible automatic items are out of
    error: str | None


def visible_score(run: GradingRun) -> tuple[float, float] | None:
    """(score, points) of the run's visible automatic items; None unless the run is graded.

    From the run's own item rows, which record each item's visibility as graded."""
    if run.status is not RunStatus.graded:
        return None
    shown = [i for i in run.items if i.kind == "auto" and i.visibility == "visible"]
    return round(sum(i.score for i in shown), 4), round(sum(i.max_score for i in shown), 4)


def error_for_reader(run: GradingRun, *, student_view: bool) -> str | None:
    """The run's error text, or for a student the fixed sentence for any failure of ours."""
    if run.error is None or not student_view or run.error_kind == "submission":
        return run.error
    return INFRASTRUCTURE_ERROR_FOR_STUDENTS


def run_outcome(run: GradingRun, *, student_view: bool, released: bool) -> RunOutcome:
    """The run as this reader sees it. ``released``: the marks are released to the run's student."""
    shown = visible_score(run)
    full = not student_view or released
    return RunOutcome(
        score=run.score if full else None,
        max_score=run.max_score if full else None,
        visible_score=shown[0] if shown else None,
        visible_max_score=shown[1] if shown else None,
        error=error_for_reader(run, student_view=student_view),
    )


PRECHECK_FAILED_ON_OUR_SIDE = "the quick pre-check could not run; full grading is not affected."


@dataclass(frozen=True)
class PrecheckOutcome:
    status: str  # queued | running | passed | failed | cancelled | error (ours: full grading still runs)
    messages: list[str]  # for the student


def precheck_outcome(run: GradingRun) -> PrecheckOutcome:
    """A pre-check run as the student reads it: its verdict's messages, never our own errors."""
    if run.status is RunStatus.graded:
        status = "passed"
    elif run.status is RunStatus.error and run.error_kind == "submission":
        status = "failed"
    else:
        status = run.status.value  # queued, running, cancelled, or error: an infrastructure failure
    messages = list(((run.details or {}).get("precheck") or {}).get("messages") or [])
    if status == "error":
        messages = [PRECHECK_FAILED_ON_OUR_SIDE]
    return PrecheckOutcome(status, messages)
