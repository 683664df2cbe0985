"""Grade many submissions in one go (``grader grade A B C`` or ``grader grade FOLDER``), as
``nbgrader autograde`` does an assignment: one judge launcher kept for the whole batch, one report
per submission, in order. A submission that cannot be graded is a report with ``status="error"``;
it never stops the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.grading.pipeline import grade_submission
from grader.grading.report import GradeReport
from grader.grading.worker_side import JudgeLauncher
from grader.rubrics.loader import CourseworkFiles
from grader.settings import Settings

SUBMISSION_SUFFIXES = (".ipynb", ".zip")

log = logging.getLogger(__name__)


class BatchUsageError(ValueError):
    """The paths asked for name no submission to grade (bad usage, not a failed grade)."""


@dataclass(frozen=True)
class BatchItem:
    path: Path
    report: GradeReport


def submission_paths(paths: Sequence[Path]) -> list[Path]:
    """The files to grade: each file as given, and for each folder every .ipynb and .zip directly in
    it, sorted by name (hidden files skipped). Raises ``BatchUsageError`` for a folder with none."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            members = sorted(
                p
                for p in path.iterdir()
                if p.suffix in SUBMISSION_SUFFIXES and p.is_file() and not p.name.startswith(".")
            )
            if not members:
                raise BatchUsageError(f"{path}: no .ipynb or .zip file in this folder")
            found.extend(members)
        elif path.is_file():
            found.append(path)
        else:
            raise BatchUsageError(f"{path}: not a file or a folder")
    return found


def artifacts_folder(root: Path | None, path: Path, index: int) -> Path | None:
    """Each submission's PNGs in a folder of its own (two submissions draw the same names)."""
    return None if root is None else root / f"{index:04d}-{path.stem}"


def grade_batch(
    paths: Sequence[Path],
    cw: CourseworkFiles,
    settings: Settings,
    *,
    judge: JudgeLauncher,
    backend: str | None = None,
    seed: int | None = None,
    artifacts_dir: Path | None = None,
) -> Iterator[BatchItem]:
    """Grade ``paths`` one after another with the same ``judge``, yielding each report as it is made."""
    for index, path in enumerate(paths):
        try:
            report = grade_submission(
                path,
                cw,
                settings,
                judge=judge,
                backend=backend,
                seed=seed,
                artifacts_dir=artifacts_folder(artifacts_dir, path, index),
            )
        except Exception as exc:  # a bug of ours on one file must not cost the rest of the batch their marks
            log.exception("grading %s raised", path)
            report = GradeReport(
                coursework=cw.rubric.coursework,
                status="error",
                max_score=cw.rubric.total_points,
                auto_max_score=cw.rubric.auto_max_score,
                error=f"{type(exc).__name__}: {str(exc)[:500]}",
                error_kind="infrastructure",
            )
        yield BatchItem(path, report)
