"""The pre-check: is the upload usable at all? Answered within a minute, ahead of full grading.

Two checks, and nothing of the student's runs:
1. intake again (``stage_submission``): file names from the rubric, the nbformat schema, zip members;
2. every model file the rubric names loads, inside the sandbox (``workers/runner/inspect_models.py``:
   ``torch.load(weights_only=True)``; TorchScript is only read as an archive, never loaded, since
   loading runs its code), and its parameter count: the same number, by the same rule, as the
   judge's ``models`` fixture uses for the verdict. Model files are never unpickled out here.

The verdict is advice for the student (``passed`` plus messages); it never makes marks. A failure of
ours (the sandbox did not start, the loader script broke) is an ``infrastructure_error``: the
worker retries it like any run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from grader.grading.intake import SubmissionError, stage_submission
from grader.grading.job import create_job_folder, make_readable, remove_job_folder
from grader.grading.limits import effective_limits
from grader.grading.worker_side import InspectionRun, ModelInspector
from grader.rubrics.loader import CourseworkFiles
from grader.rubrics.model import Rubric
from grader.settings import SandboxLimits, Settings

MODEL_SUFFIXES = (".pt", ".pth", ".pt2", ".ts")
WALL_TIME_S = 60  # loading a few model files; anything slower is reported, not waited for
MEMORY_MB = 1536  # torch itself (~400 MB) plus the models; never more than the rubric's job gets


@dataclass(frozen=True)
class ModelCheck:
    name: str
    loads: bool
    kind: str | None = None  # state_dict | checkpoint | tensor | object | torchscript | exported
    parameters: int | None = None
    tensors: int | None = None
    error: str | None = None


@dataclass
class PrecheckReport:
    passed: bool = False
    messages: list[str] = field(default_factory=list)  # for the student
    models: list[ModelCheck] = field(default_factory=list)
    duration_s: float = 0.0
    infrastructure_error: str | None = None  # ours: retry, tell the student nothing
    sandbox: dict[str, Any] | None = None  # what the host saw of the sandbox (for operators)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "messages": self.messages,
            "models": [asdict(m) for m in self.models],
            "duration_s": round(self.duration_s, 3),
        }


# -- pure parts -----------------------------------------------------------------------------------


def model_files(rubric: Rubric, staged: dict[str, Path]) -> list[str]:
    """The model files the rubric names that were submitted (optional ones only when present)."""
    named = [*rubric.submission.files, *rubric.submission.optional_files]
    return [n for n in named if n.endswith(MODEL_SUFFIXES) and n in staged]


def precheck_limits(job: SandboxLimits) -> SandboxLimits:
    """Small and short: the pre-check loads files, it trains nothing."""
    return job.model_copy(
        update={
            "memory_mb": min(job.memory_mb, MEMORY_MB),
            "wall_time_s": min(job.wall_time_s, WALL_TIME_S),
            "cpu_time_s": min(job.cpu_time_s, WALL_TIME_S),
            "pids": min(job.pids, 64),
            "work_dir_mb": min(job.work_dir_mb, 16),
            "file_size_mb": min(job.file_size_mb, 16),
            "network": False,
        }
    )


def read_inspection(
    stdout: bytes,
    names: Sequence[str],
    *,
    exit_code: int | None,
    oom_killed: bool,
    wall_timeout: bool,
    limits: SandboxLimits,
) -> list[ModelCheck]:
    """Each file's verdict from the loader's JSON lines. A file the loader started but never
    finished killed it (memory, time, a crash in torch's C++): that file does not load. Raises
    ``RuntimeError`` when the loader failed before any file (ours, not the student's)."""
    results: dict[str, ModelCheck] = {}
    started: list[str] = []
    for line in stdout.decode("utf-8", "replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        if "checking" in entry:
            started.append(str(entry["checking"]))
        elif entry.get("name") in names:
            results[entry["name"]] = ModelCheck(
                name=entry["name"],
                loads=bool(entry.get("loads")),
                kind=entry.get("kind"),
                parameters=entry.get("parameters"),
                tensors=entry.get("tensors"),
                error=entry.get("error"),
            )
    unfinished = [n for n in started if n not in results]
    if unfinished:
        if oom_killed:
            why = f"loading it needs more than the pre-check's {limits.memory_mb} MB of memory"
        elif wall_timeout:
            why = f"it did not load within the pre-check's {limits.wall_time_s} s"
        else:
            why = f"the loader stopped while reading it (exit code {exit_code})"
        results[unfinished[0]] = ModelCheck(name=unfinished[0], loads=False, error=why)
    missing = [n for n in names if n not in results]
    if missing and not started:
        raise RuntimeError(
            f"the model loader reported nothing (exit code {exit_code}, oom {oom_killed}, timeout {wall_timeout})"
        )
    # Files after the one that stopped the loader were never tried.
    return [
        results.get(n) or ModelCheck(name=n, loads=False, error="not checked: an earlier file stopped the loader")
        for n in names
    ]


def messages_for(staged_names: list[str], models: list[ModelCheck]) -> list[str]:
    """What the student reads: one line for the files, one per model file."""
    lines = [f"received {', '.join(sorted(staged_names))}: named as the rubric asks, and the notebook is valid."]
    for m in models:
        if m.loads and m.kind == "exported":
            lines.append(f"{m.name} is a valid torch.export archive (its weights are loaded when it is graded).")
        elif m.loads:
            count = f", {m.parameters:,} parameters" if m.parameters is not None else ""
            lines.append(f"{m.name} loads ({m.kind}{count}).")
        else:
            lines.append(f"{m.name} does not load: {m.error or 'unknown reason'}.")
    return lines


# -- running it -----------------------------------------------------------------------------------


def run_precheck(
    path: Path, cw: CourseworkFiles, settings: Settings, *, inspector: ModelInspector, backend: str | None = None
) -> PrecheckReport:
    """Pre-check one fetched upload (a .ipynb or a .zip) against its coursework; ``inspector`` loads
    the model files in a sandbox (the worker side, passed in by the caller)."""
    started = time.monotonic()
    report = PrecheckReport()
    sandbox, execution = effective_limits(cw.rubric, settings)
    folder = create_job_folder(settings)
    try:
        staged = stage_submission(path, cw.rubric, folder / "submission", execution)
        names = model_files(cw.rubric, staged.files)
        if names:
            make_readable(staged.folder)
            limits = precheck_limits(sandbox)
            run = inspector.inspect_models(
                folder, staged.folder, names, limits, settings, backend or settings.sandbox_backend
            )
            report.models, report.sandbox = inspection_verdict(run, names, limits)
        report.messages = messages_for(list(staged.files), report.models)
        report.passed = all(m.loads for m in report.models)
    except SubmissionError as exc:
        report.messages = [str(exc)]
    except Exception as exc:  # the sandbox or our loader: never the student's fault
        report.infrastructure_error = f"{type(exc).__name__}: {str(exc)[:500]}"
    finally:
        remove_job_folder(folder)
    report.duration_s = time.monotonic() - started
    return report


def inspection_verdict(
    run: InspectionRun, names: Sequence[str], limits: SandboxLimits
) -> tuple[list[ModelCheck], dict[str, Any]]:
    """Each file's verdict, and what the host saw of the sandbox (for operators)."""
    facts = {
        "exit_code": run.exit_code,
        "oom_killed": run.oom_killed,
        "wall_timeout": run.wall_timeout,
        "log_tail": run.log.decode("utf-8", "replace")[-4000:],
    }
    models = read_inspection(
        run.stdout,
        names,
        exit_code=run.exit_code,
        oom_killed=run.oom_killed,
        wall_timeout=run.wall_timeout,
        limits=limits,
    )
    return models, facts
