"""The result of grading one submission, as ``grader grade --json`` prints it (stable: docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from grader.scoring.outcomes import Marks, TestResult

ErrorKind = Literal["submission", "infrastructure"]


@dataclass(frozen=True)
class ArtifactFile:
    """A PNG a hidden test drew (the ``artifacts`` fixture), for markers. ``path`` is where the file
    lies on this host for the caller to store (None once the job folder is gone); never in JSON.
    ``test``: the hidden test whose body drew it; ``item_id``: the rubric item that test scores
    (None for either: no item's, so staff only)."""

    name: str
    title: str
    media_type: str
    sha256: str
    size_bytes: int
    path: Path | None = None
    test: str | None = None
    item_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "media_type": self.media_type,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "test": self.test,
            "item_id": self.item_id,
        }


@dataclass
class GradeReport:
    coursework: str
    status: Literal["graded", "error"]
    max_score: float
    auto_max_score: float
    duration_s: float = 0.0
    marks: Marks | None = None
    error: str | None = None
    error_kind: ErrorKind | None = None
    seed: int | None = None
    execution: dict[str, Any] | None = None  # what ran and what was skipped, for the marker
    sandbox: dict[str, Any] | None = None
    device: str | None = None  # what the student's code ran on: "cpu", or the GPU (the judge says)
    protocol_violation: str | None = None
    executed_notebook: bytes | None = field(default=None, repr=False)
    # Each hidden test as the judge reported it (for the gradebook's per-test rows); not in to_json.
    tests: dict[str, TestResult] | None = field(default=None, repr=False)
    artifacts: list[ArtifactFile] = field(default_factory=list)

    @property
    def score(self) -> float:
        return self.marks.score if self.marks and self.status == "graded" else 0.0

    def to_json(self) -> dict[str, Any]:
        marks = self.marks if self.status == "graded" else None
        return {
            "status": self.status,
            "coursework": self.coursework,
            "score": self.score,
            "max_score": self.max_score,
            "auto_max_score": self.auto_max_score,
            "items": [i.to_json() for i in marks.items] if marks else [],
            "penalties": [p.to_json() for p in marks.penalties] if marks else [],
            "parts": [vars(p) for p in marks.parts] if marks else [],
            "error": self.error,
            "error_kind": self.error_kind,
            "duration_s": round(self.duration_s, 3),
            "seed": self.seed,
            "protocol_violation": self.protocol_violation,
            "execution": self.execution,
            "sandbox": self.sandbox,
            "device": self.device,
            "artifacts": [a.to_json() for a in self.artifacts],
        }


def render_table(report: GradeReport) -> str:
    """A plain-text sheet for a person at a terminal."""
    lines = [f"{report.coursework}: {report.status}"]
    if report.status == "error":
        lines.append(f"error ({report.error_kind}): {report.error}")
        return "\n".join(lines)
    assert report.marks is not None
    rows = [("item", "score", "status", "message")]
    for i in report.marks.items:
        rows.append((i.id, f"{i.score:g}/{i.max_score:g}", i.status.value, i.message[:70]))
    for p in report.marks.penalties:
        rows.append(
            (f"penalty {p.id}", f"-{p.points:g}" if p.applied else "0", "applied" if p.applied else "-", p.message[:70])
        )
    widths = [max(len(r[c]) for r in rows) for c in range(3)]
    for r in rows:
        lines.append("  ".join(r[c].ljust(widths[c]) for c in range(3)) + "  " + r[3])
    for part in report.marks.parts:
        lines.append(f"part {part.id} ({part.title}): {part.score:g}/{part.max_score:g}")
    for a in report.artifacts:
        lines.append(
            f"artifact {a.name} ({a.title or 'untitled'}, {a.size_bytes} bytes)" + (f": {a.path}" if a.path else "")
        )
    if report.protocol_violation:
        lines.append(f"run ended early: {report.protocol_violation}")
    lines.append(
        f"auto score: {report.score:g} of {report.auto_max_score:g} auto points "
        f"({report.max_score:g} in all; manual items await a marker)  [{report.duration_s:.1f}s]"
    )
    return "\n".join(lines)
