"""The pre-check: is the upload usable at all? Answered within a minute, ahead of full grading.

Two checks, and nothing of the student's runs:
1. intake again (``stage_submission``): file names from the rubric, the nbformat schema, zip members;
2. every model file the rubric names loads, inside the sandbox (``workers/runner/inspect_models.py``:
   ``torch.load(weights_only=True)``; TorchScript is only read as an archive, never loaded, since
   loading runs its code), and its parameter count: the same number, by the same rule, as the
   judge's ``models`` fixture uses for the verdict. Model files are never unpickled out here.

A model file's verdict is reused by its sha256 (``VerdictCache``, kept in the gradebook by
``grader.grading.model_verdicts``): a resubmission with the same model files starts no sandbox for them.

The verdict is advice for the student (``passed`` plus messages); it never makes marks. A failure of
ours (the sandbox did not start, the loader script broke) is an ``infrastructure_error``: the
worker retries it like any run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

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
# A verdict that says more about the machine than about the file: never reused.
ENVIRONMENTAL_ERRORS = ("MemoryError", "OSError", "PermissionError", "TimeoutError")

log = logging.getLogger(__name__)


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


class VerdictCache(Protocol):
    """Model-file verdicts already reached, by (sha256, ``verdict_version``). ``recall`` answers
    ``{sha256: verdict}`` for the digests it knows (a verdict's ``name`` is not part of it)."""

    loader_version: str  # the loader script and the runtime it runs in

    def recall(self, version: str, digests: Collection[str]) -> dict[str, ModelCheck]: ...

    def remember(self, version: str, verdicts: Mapping[str, ModelCheck]) -> None: ...


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
    results, started = _loader_lines(stdout, names)
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


def loader_verdicts(stdout: bytes, names: Sequence[str]) -> dict[str, ModelCheck]:
    """The verdicts the loader itself reported, by file name (none for a file it never finished)."""
    return _loader_lines(stdout, names)[0]


def _loader_lines(stdout: bytes, names: Sequence[str]) -> tuple[dict[str, ModelCheck], list[str]]:
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
    return results, started


def verdict_version(loader_version: str, limits: SandboxLimits) -> str:
    """What a verdict depends on besides the file's bytes: the loader (its script and runtime) and the
    sandbox it ran in (a file that loads in 1.5 GB may not in less)."""
    basis = json.dumps([loader_version, limits.memory_mb, limits.wall_time_s, limits.cpu_time_s, limits.pids])
    return hashlib.sha256(basis.encode()).hexdigest()


def reusable(check: ModelCheck) -> bool:
    """A verdict about the file, not about the machine it was read on."""
    return check.loads or not (check.error or "").startswith(ENVIRONMENTAL_ERRORS)


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


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
    path: Path,
    cw: CourseworkFiles,
    settings: Settings,
    *,
    inspector: ModelInspector,
    backend: str | None = None,
    verdicts: VerdictCache | None = None,
) -> PrecheckReport:
    """Pre-check one fetched upload (a .ipynb or a .zip) against its coursework; ``inspector`` loads
    the model files in a sandbox (the worker side, passed in by the caller). ``verdicts``: model-file
    verdicts already reached, reused by sha256 instead of loading those files again."""
    started = time.monotonic()
    report = PrecheckReport()
    sandbox, execution = effective_limits(cw.rubric, settings)
    folder = create_job_folder(settings)
    try:
        staged = stage_submission(path, cw.rubric, folder / "submission", execution)
        names = model_files(cw.rubric, staged.files)
        if names:
            report.models, report.sandbox = _check_models(
                staged.files,
                staged.folder,
                names,
                precheck_limits(sandbox),
                folder,
                settings,
                backend,
                inspector,
                verdicts,
            )
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


def _check_models(
    files: Mapping[str, Path],
    submission_dir: Path,
    names: list[str],
    limits: SandboxLimits,
    folder: Path,
    settings: Settings,
    backend: str | None,
    inspector: ModelInspector,
    verdicts: VerdictCache | None,
) -> tuple[list[ModelCheck], dict[str, Any] | None]:
    """Each model file's verdict: recalled by its sha256 where one was reached before, else loaded in
    the sandbox (one for all the files not recalled, none when every one was)."""
    digests = {n: file_sha256(files[n]) for n in names}
    version = verdict_version(verdicts.loader_version, limits) if verdicts else ""
    known: dict[str, ModelCheck] = {}
    if verdicts is not None:
        try:
            known = verdicts.recall(version, set(digests.values()))
        except Exception:  # without the cache the files are simply loaded again
            log.warning("could not recall model-file verdicts", exc_info=True)
    found = {n: replace(known[d], name=n) for n, d in digests.items() if d in known}
    todo = [n for n in names if n not in found]
    facts: dict[str, Any] | None = None
    if todo:
        make_readable(submission_dir)
        run = inspector.inspect_models(
            folder, submission_dir, todo, limits, settings, backend or settings.sandbox_backend
        )
        checks, facts = inspection_verdict(run, todo, limits)
        found.update((c.name, c) for c in checks)
        if verdicts is not None:
            fresh = {digests[n]: c for n, c in loader_verdicts(run.stdout, todo).items() if reusable(c)}
            try:
                verdicts.remember(version, fresh)
            except Exception:  # the verdict stands; the next upload of these bytes loads them again
                log.warning("could not remember model-file verdicts", exc_info=True)
    if len(todo) < len(names):
        facts = {**(facts or {}), "recalled": sorted(set(names) - set(todo))}
    return [found[n] for n in names], facts


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
