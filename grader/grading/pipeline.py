"""Grade one submission with no server: intake -> job -> judge (which drives the sandbox) -> marks.

Student failures become marks; failures of ours become ``error_kind="infrastructure"`` (retry,
never a zero).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from grader.grading.intake import SubmissionError, stage_submission
from grader.grading.job import Job, create_job_folder, make_readable, remove_job_folder, write_job_file
from grader.grading.limits import effective_limits
from grader.grading.report import ArtifactFile, GradeReport
from grader.marks.auto import auto_marks
from grader.marks.outcomes import TestOutcome, TestResult
from grader.rubrics.loader import CourseworkFiles
from grader.rubrics.model import Rubric
from grader.runs.artifact_view import item_for_test
from grader.settings import Settings

JUDGE_GRACE_S = 60  # on top of the sandbox's wall time: pytest start-up, hidden tests, clean-up


class InfrastructureError(Exception):
    """Something of ours failed; the submission is not to blame."""


def run_judge(job: Job, wall_time_s: float) -> dict[str, Any]:
    """Run the judge in its own process and read its result file."""
    deadline = wall_time_s + JUDGE_GRACE_S
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.judge", str(job.job_file)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise InfrastructureError(f"the judge did not finish within {deadline:.0f}s") from None
    if not job.result_path.is_file():
        tail = out.decode("utf-8", "replace")[-2000:]
        raise InfrastructureError(f"the judge exited with {proc.returncode} and wrote no result: {tail}")
    return json.loads(job.result_path.read_text())


def test_results(judge: dict[str, Any]) -> dict[str, TestResult]:
    results = {}
    for node, t in judge.get("tests", {}).items():
        results[node] = TestResult(
            outcome=TestOutcome(t["outcome"]),
            fraction=float(t.get("fraction", 0.0)),
            message=str(t.get("message", "")),
            duration_s=float(t.get("duration_s", 0.0)),
        )
    return results


def grade_submission(
    path: Path,
    cw: CourseworkFiles,
    settings: Settings,
    *,
    backend: str | None = None,
    seed: int | None = None,
    keep_job: bool = False,
    artifacts_dir: Path | None = None,
) -> GradeReport:
    """``artifacts_dir``: where the hidden tests' PNGs are copied for the caller to keep (their
    ``path`` in the report); without it, paths point into the job folder only with ``keep_job``."""
    started = time.monotonic()
    rubric = cw.rubric
    report = GradeReport(
        coursework=rubric.coursework, status="error", max_score=rubric.total_points,
        auto_max_score=rubric.auto_max_score,
    )
    sandbox, execution = effective_limits(rubric, settings)
    folder = create_job_folder(settings)
    try:
        staged = stage_submission(path, rubric, folder / "submission", execution)
        make_readable(staged.folder)
        job = write_job_file(folder, staged.folder, cw, settings, sandbox, execution,
                             backend or settings.sandbox_backend, seed)
        report.seed = job.seed
        judge = run_judge(job, sandbox.wall_time_s)
        _apply_judge_result(report, judge, cw)
        report.artifacts = collect_artifacts(judge.get("artifacts") or [], folder / "artifacts",
                                             artifacts_dir if artifacts_dir is not None else
                                             (folder / "artifacts" if keep_job else None), rubric)
        notebook = judge.get("executed_notebook_path")
        if notebook and Path(notebook).is_file():
            report.executed_notebook = Path(notebook).read_bytes()
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


def collect_artifacts(records: list[dict[str, Any]], source: Path, target: Path | None,
                      rubric: Rubric) -> list[ArtifactFile]:
    """The judge's artifacts, checked (a file of the job's artifacts folder, under its own name) and
    copied to ``target``; sha256 and size are the copied bytes'. None for ``target``: paths None.
    Each is attached to the rubric item its test scores (``item_for_test``), which decides who sees it."""
    found = []
    for record in records:
        name = str(record["name"])
        path = source / f"{name}.png"
        if Path(record["path"]).resolve() != path.resolve() or path.is_symlink() or not path.is_file():
            raise InfrastructureError(f"the judge listed an artifact it did not keep: {name[:80]!r}")
        data = path.read_bytes()
        kept = None
        if target is not None:
            kept = target / path.name
            if kept.resolve() != path.resolve():
                target.mkdir(parents=True, exist_ok=True)
                kept.write_bytes(data)
        test = record.get("test")
        test = str(test) if test is not None else None
        found.append(ArtifactFile(name=name, title=str(record.get("title", "")),
                                  media_type=str(record["media_type"]), sha256=hashlib.sha256(data).hexdigest(),
                                  size_bytes=len(data), path=kept, test=test, item_id=item_for_test(rubric, test)))
    return found


def _apply_judge_result(report: GradeReport, judge: dict[str, Any], cw: CourseworkFiles) -> None:
    if judge.get("infrastructure_error"):
        raise InfrastructureError(judge["infrastructure_error"])
    tests = test_results(judge)
    missing = sorted(cw.rubric.test_ids() - set(tests))
    if missing:
        raise InfrastructureError(f"the hidden suite did not report tests the rubric names: {', '.join(missing)}")
    report.execution = judge.get("execution")
    report.sandbox = judge.get("sandbox")
    report.protocol_violation = judge.get("protocol_violation")
    report.marks = auto_marks(cw.rubric, tests)
    report.tests = tests
    report.status = "graded"
