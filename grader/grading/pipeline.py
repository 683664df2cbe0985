"""Grade one submission with no server: intake -> job -> judge (which drives the sandbox) -> marks.

Student failures become marks; failures of ours become ``error_kind="infrastructure"`` (retry,
never a zero).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

from grader.grading.errors import InfrastructureError
from grader.grading.intake import SubmissionError, stage_submission
from grader.grading.job import create_job_folder, make_readable, remove_job_folder, write_job_file
from grader.grading.job_schema import ArtifactRecord, JudgeResult
from grader.grading.limits import effective_limits
from grader.grading.report import ArtifactFile, GradeReport
from grader.grading.worker_side import JudgeLauncher
from grader.rubrics.loader import CourseworkFiles
from grader.rubrics.model import Rubric
from grader.runs.artifact_view import item_for_test
from grader.scoring.auto import auto_marks
from grader.scoring.outcomes import TestResult
from grader.settings import Settings

JUDGE_GRACE_S = 60  # on top of the sandbox's wall time: pytest start-up, hidden tests, clean-up


def test_results(judge: JudgeResult) -> dict[str, TestResult]:
    return {
        node: TestResult(outcome=t.outcome, fraction=t.fraction, message=t.message, duration_s=t.duration_s)
        for node, t in judge.tests.items()
    }


def grade_submission(
    path: Path,
    cw: CourseworkFiles,
    settings: Settings,
    *,
    judge: JudgeLauncher,
    backend: str | None = None,
    seed: int | None = None,
    keep_job: bool = False,
    artifacts_dir: Path | None = None,
) -> GradeReport:
    """``judge``: runs the judge (the worker side, passed in by the caller).
    ``artifacts_dir``: where the hidden tests' PNGs are copied for the caller to keep (their
    ``path`` in the report); without it, paths point into the job folder only with ``keep_job``."""
    started = time.monotonic()
    rubric = cw.rubric
    report = GradeReport(
        coursework=rubric.coursework,
        status="error",
        max_score=rubric.total_points,
        auto_max_score=rubric.auto_max_score,
    )
    sandbox, execution = effective_limits(rubric, settings)
    folder = create_job_folder(settings)
    try:
        staged = stage_submission(path, rubric, folder / "submission", execution)
        make_readable(staged.folder)
        job = write_job_file(
            folder, staged.folder, cw, settings, sandbox, execution, backend or settings.sandbox_backend, seed
        )
        report.seed = job.seed
        result = judge.run(job, sandbox.wall_time_s + JUDGE_GRACE_S)
        _apply_judge_result(report, result, cw)
        report.artifacts = collect_artifacts(
            result.artifacts,
            folder / "artifacts",
            artifacts_dir if artifacts_dir is not None else (folder / "artifacts" if keep_job else None),
            rubric,
        )
        notebook = result.executed_notebook_path
        if notebook is not None and notebook.is_file():
            report.executed_notebook = notebook.read_bytes()
    except SubmissionError as exc:
        report.error, report.error_kind = str(exc), "submission"
    except InfrastructureError as exc:
        report.status, report.error, report.error_kind = "error", str(exc), "infrastructure"
        report.marks = None
    finally:
        if not keep_job:
            remove_job_folder(folder)
    report.duration_s = time.monotonic() - started
    return report


def collect_artifacts(
    records: Sequence[ArtifactRecord], source: Path, target: Path | None, rubric: Rubric
) -> list[ArtifactFile]:
    """The judge's artifacts, checked (a file of the job's artifacts folder, under its own name) and
    copied to ``target``; sha256 and size are the copied bytes'. None for ``target``: paths None.
    Each is attached to the rubric item its test scores (``item_for_test``), which decides who sees it."""
    found = []
    for record in records:
        name = record.name
        path = source / f"{name}.png"
        if record.path.resolve() != path.resolve() or path.is_symlink() or not path.is_file():
            raise InfrastructureError(f"the judge listed an artifact it did not keep: {name[:80]!r}")
        data = path.read_bytes()
        kept = None
        if target is not None:
            kept = target / path.name
            if kept.resolve() != path.resolve():
                target.mkdir(parents=True, exist_ok=True)
                kept.write_bytes(data)
        test = record.test
        found.append(
            ArtifactFile(
                name=name,
                title=record.title,
                media_type=record.media_type,
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                path=kept,
                test=test,
                item_id=item_for_test(rubric, test),
            )
        )
    return found


def _apply_judge_result(report: GradeReport, judge: JudgeResult, cw: CourseworkFiles) -> None:
    if judge.infrastructure_error:
        raise InfrastructureError(judge.infrastructure_error)
    tests = test_results(judge)
    missing = sorted(cw.rubric.test_ids() - set(tests))
    if missing:
        raise InfrastructureError(f"the hidden suite did not report tests the rubric names: {', '.join(missing)}")
    report.execution = judge.execution
    report.sandbox = judge.sandbox
    report.device = judge.device
    report.protocol_violation = judge.protocol_violation
    report.marks = auto_marks(cw.rubric, tests)
    report.tests = tests
    report.status = "graded"
