"""The job file ``python -m workers.judge JOB.json`` reads, and the result file it writes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from grader.settings import ExecutionLimits, SandboxLimits


class JudgeJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    coursework: str
    hidden_dir: Path = Field(description="the hidden pytest suite (never enters the sandbox)")
    submission_dir: Path = Field(description="the student's files; readable by the sandbox uid")
    notebook: str | None = Field(description="the notebook's file name inside submission_dir, or null")
    mode: Literal["full", "definitions", "none"]
    backend: str = "bwrap"
    seed: int | None = Field(None, description="null: the judge draws one")
    runtime_dir: Path = Field(description="the course runtime, bound read-only at /opt/grader/runtime")
    runner_dir: Path = Field(description="job-local dir the judge copies the runner into; readable by the sandbox uid")
    limits: SandboxLimits = Field(default_factory=SandboxLimits)
    execution: ExecutionLimits = Field(default_factory=ExecutionLimits)
    result_path: Path
    executed_notebook_path: Path | None = Field(None, description="default: executed.ipynb next to result_path")
    artifacts_dir: Path | None = Field(None, description="where the artifacts fixture writes PNGs; "
                                                         "default: artifacts/ next to result_path")
    gpu: bool = False
    reproducible: bool = Field(False, description="seed the kernel with kernel_seed, deterministic torch")
    kernel_seed: int = 0


def empty_result(seed: int) -> dict[str, Any]:
    return {"tests": {}, "collected": [], "protocol_violation": None, "execution": None,
            "executed_notebook_path": None, "sandbox": None, "infrastructure_error": None, "seed": seed,
            "artifacts": []}


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Atomically: a reader never sees half a result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=1, allow_nan=False, default=str))
    os.replace(tmp, path)
