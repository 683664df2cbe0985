"""The ``models`` fixture: what a submitted model file holds, learned without running student code.

The rubric's model files are read in the job's own sandbox, by its kernel before any student code
has run there (the runner's ``inspect_models``), with ``workers/runner/inspect_models.py`` (the
pre-check's loader: ``torch.load(weights_only=True)`` for a state_dict; a TorchScript archive is
never loaded, its tensor records are read from the zip), never in the judge: model files are
untrusted. The facts come in the runner's hello, before the notebook's first cell. The parameter
count is the loader's, the very number the pre-check shows the student (one rule for every file:
``inspect_models.storage_count``). Answers are cached for the run. A runner that sent no facts for
a declared file is ours: ``infrastructure_error`` is set, the judge marks the whole run as an
infrastructure error (retried, never a zero), and the call raises. Files the rubric does not
declare are not inspected (a ValueError: the hidden suite's mistake).
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from grader.grading.precheck import ModelCheck, read_inspection
from grader.settings import SandboxLimits

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
    """The ``models`` fixture: answers from the facts the runner sent in its hello (``facts``: the
    loader's lines for ``declared``), established before any student code ran in the sandbox."""

    def __init__(self, facts: bytes | None, *, declared: list[str], submission_dir: Path, limits: SandboxLimits):
        self._facts, self._declared = facts, list(declared)
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
        elif name not in self._declared:
            raise ValueError(f"models.inspect answers for the rubric's model files, not {name[:80]!r}")
        else:
            info = self._from_facts(name)
        self._cache[name] = info
        return info

    def _ours(self, reason: str) -> InfrastructureError:
        self.infrastructure_error = reason
        return InfrastructureError(reason)

    def _from_facts(self, name: str) -> ModelInfo:
        if self._facts is None:
            raise self._ours("the model inspector reported nothing: the runner sent no model facts")
        base = PurePosixPath(name).name  # the loader reports files by base name
        try:
            check = read_inspection(
                self._facts, [base], exit_code=0, oom_killed=False, wall_timeout=False, limits=self._limits
            )[0]
        except RuntimeError as e:
            raise self._ours(f"the model inspector failed: {e}") from None
        return model_info(name, check, _state_dict_entry(self._facts, base))


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
