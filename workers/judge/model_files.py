"""The ``models`` fixture: what a submitted model file holds, learned without running student code.

Each file is read in a short sandbox of its own by ``workers/runner/inspect_models.py`` (the
pre-check's loader: ``torch.load(weights_only=True)`` for a state_dict; a TorchScript archive is
never loaded, its tensor records are read from the zip), never in the judge: model files are
untrusted. The parameter count is the loader's, the very number the pre-check shows the student
(one rule for every file: ``inspect_models.storage_count``). The
student's kernel plays no part either. Answers are cached for the run. A sandbox that does not
start, or a loader that reports nothing, is ours: ``infrastructure_error`` is set, the judge
marks the whole run as an infrastructure error (retried, never a zero), and the call raises.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from grader.grading.precheck import ModelCheck, read_inspection
from grader.settings import SandboxLimits
from workers.precheck_sandbox import run_loader
from workers.sandbox.base import SandboxError, SandboxProcess, SandboxSpec

from .api import ModelInfo
from .client import InfrastructureError

NOT_A_MODEL = {
    "checkpoint": "it loads, but holds a checkpoint (a dict around the weights), not a state_dict: "
    "save model.state_dict() with torch.save",
    "tensor": "it loads, but holds one tensor, not a state_dict: save model.state_dict() with torch.save",
    "object": "it loads, but is not a state_dict: save model.state_dict() with torch.save",
    "exported": "a torch.export archive is not accepted here: save model.state_dict() with torch.save",
}


def model_info(name: str, check: ModelCheck, state_dict: dict[str, Any] | None) -> ModelInfo:
    """The fixture's answer from the loader's verdict (and, for a state_dict, its shapes)."""
    if not check.loads:
        return ModelInfo(name=name, present=True, loads=False, error=check.error or "it does not load")
    if check.kind == "torchscript":
        return ModelInfo(name=name, present=True, loads=True, kind="torchscript", parameters=check.parameters)
    if check.kind == "state_dict" and state_dict is not None:
        shapes = {str(k): [int(d) for d in v] for k, v in state_dict["shapes"].items()}
        return ModelInfo(
            name=name, present=True, loads=True, kind="state_dict", parameters=check.parameters, tensors=shapes
        )
    return ModelInfo(
        name=name,
        present=True,
        loads=False,
        error=NOT_A_MODEL.get(check.kind or "", "it does not hold a model's weights"),
    )


def plain_name(name: object) -> str:
    """A file name relative to the submission, without any way out of it."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        raise ValueError(f"models.inspect takes a submitted file's name, not {str(name)[:80]!r}")
    path = PurePosixPath(name)
    if path.is_absolute() or any(p in ("..", ".", "") for p in name.split("/")):
        raise ValueError(f"models.inspect takes a submitted file's name, not {name[:80]!r}")
    return name


class Models:
    def __init__(
        self,
        start: Callable[[SandboxSpec], SandboxProcess],
        *,
        runtime_dir: Path,
        runner_dir: Path,
        submission_dir: Path,
        limits: SandboxLimits,
    ):
        self._start = start  # the judge's sandbox backend; runner_dir holds inspect_models.py
        self._runtime_dir, self._runner_dir = Path(runtime_dir), Path(runner_dir)
        self._submission_dir, self._limits = Path(submission_dir), limits
        self._cache: dict[str, ModelInfo] = {}
        self.infrastructure_error: str | None = None

    def inspect(self, name: str) -> ModelInfo:
        name = plain_name(name)
        if name in self._cache:
            return self._cache[name]
        if self.infrastructure_error:
            raise InfrastructureError(self.infrastructure_error)
        path = self._submission_dir / name
        if path.is_symlink() or not path.is_file():
            info = ModelInfo(name=name, present=False, loads=False, error="the file is missing")
        else:
            info = self._inspect_in_sandbox(name)
        self._cache[name] = info
        return info

    def _ours(self, reason: str) -> InfrastructureError:
        self.infrastructure_error = reason
        return InfrastructureError(reason)

    def _inspect_in_sandbox(self, name: str) -> ModelInfo:
        try:
            run = run_loader(
                self._start,
                runtime_dir=self._runtime_dir,
                runner_dir=self._runner_dir,
                submission_dir=self._submission_dir,
                names=[name],
                limits=self._limits,
            )
        except (SandboxError, OSError) as e:
            raise self._ours(
                f"the model inspector's sandbox did not start: {type(e).__name__}: {str(e)[:300]}"
            ) from None
        base = PurePosixPath(name).name  # the loader reports files by base name
        try:
            check = read_inspection(
                run.stdout,
                [base],
                exit_code=run.exit_code,
                oom_killed=run.oom_killed,
                wall_timeout=run.wall_timeout,
                limits=self._limits,
            )[0]
        except RuntimeError as e:
            log = run.log.decode("utf-8", "replace")[-500:]
            raise self._ours(f"the model inspector failed: {e}; {log}") from None
        return model_info(name, check, _state_dict_entry(run.stdout, base))


def _state_dict_entry(stdout: bytes, base: str) -> dict[str, Any] | None:
    for line in stdout.decode("utf-8", "replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("name") == base:
            state_dict = entry.get("state_dict")
            if isinstance(state_dict, dict):
                return state_dict
    return None
