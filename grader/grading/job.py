"""A job's scratch folder and the job file the judge reads.

The folder sits under ``settings.jobs_dir`` so the sandbox uid can read the staged submission
(the repository, or a home directory, may be unreachable for it). It never holds the hidden suite.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.grading.job_schema import JudgeJob, write_model
from grader.rubrics.loader import CourseworkFiles
from grader.settings import ExecutionLimits, SandboxLimits, Settings


@dataclass(frozen=True)
class Job:
    folder: Path
    submission_dir: Path
    job_file: Path
    result_path: Path
    seed: int


def create_job_folder(settings: Settings) -> Path:
    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.jobs_dir, 0o711)  # the sandbox uid may traverse, not list
    folder = Path(tempfile.mkdtemp(prefix="job-", dir=settings.jobs_dir))
    os.chmod(folder, 0o711)
    return folder


def make_readable(folder: Path) -> None:
    """Let the sandbox uid read the staged files (it never writes them: they are bound read-only)."""
    for root, _dirs, files in os.walk(folder):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def write_job_file(
    folder: Path,
    submission_dir: Path,
    cw: CourseworkFiles,
    settings: Settings,
    sandbox: SandboxLimits,
    execution: ExecutionLimits,
    backend: str,
    seed: int | None = None,
) -> Job:
    seed = secrets.randbits(31) if seed is None else seed
    result_path = folder / "result.json"
    spec = JudgeJob(
        coursework=cw.rubric.coursework,
        hidden_dir=cw.hidden,
        submission_dir=submission_dir,
        notebook=cw.rubric.submission.notebook,
        mode=cw.rubric.mode.value,
        backend=backend,
        seed=seed,
        runtime_dir=settings.runtime_dir,
        runner_dir=folder / "runner",
        limits=sandbox,
        execution=execution,
        result_path=result_path,
        gpu=cw.rubric.resources.gpu,
        cpu_fallback=cw.rubric.resources.gpu and cw.rubric.resources.fallback_queue == "cpu",
        gpu_device=settings.gpu_device,
        reproducible=cw.rubric.resources.reproducible,
        kernel_seed=cw.rubric.resources.seed,
        model_files=submitted_model_files(cw, submission_dir),
        imports=notebook_imports(submission_dir / cw.rubric.submission.notebook)
        if cw.rubric.submission.notebook
        else [],
    )
    job_file = folder / "job.json"
    write_model(job_file, spec, mode=0o600)
    return Job(folder=folder, submission_dir=submission_dir, job_file=job_file, result_path=result_path, seed=seed)


def submitted_model_files(cw: CourseworkFiles, submission_dir: Path) -> list[str]:
    """The rubric's model files (as the pre-check picks them) that are in the staged submission."""
    from grader.grading.precheck import model_files  # here, as precheck imports this module

    staged = {}
    for name in [*cw.rubric.submission.files, *cw.rubric.submission.optional_files]:
        path = submission_dir / name
        if path.is_file() and not path.is_symlink():
            staged[name] = path
    return model_files(cw.rubric, staged)


SLOW_IMPORTS = ("numpy", "torch", "torchvision")  # worth importing in a warm kernel before its job


def notebook_imports(path: Path) -> list[str]:
    """Which of SLOW_IMPORTS the notebook's code cells import (read, never run): the pool warms its
    next kernels for the notebooks it sees. A guess only: a wrong one costs time, never a mark."""
    found: set[str] = set()
    try:
        cells = json.loads(path.read_bytes()).get("cells", [])
        for cell in cells:
            if not isinstance(cell, dict) or cell.get("cell_type") != "code":
                continue
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            for line in source.splitlines():
                words = line.replace(",", " ").split()
                if words[:1] in (["import"], ["from"]):
                    found.update(w.split(".")[0] for w in words[1:] if w.split(".")[0] in SLOW_IMPORTS)
    except (OSError, ValueError, AttributeError, TypeError):
        return []
    return sorted(found)


def remove_job_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
