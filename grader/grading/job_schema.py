"""The two files between the host and the judge: the job it reads and the result it writes.

Defined once, here, on the domain side; ``workers.judge`` imports these models, never the other
way round. Both files are written and read through them, so a field added on one side is known to
the other, and a file that does not match is refused with a message naming the field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grader.grading.errors import InfrastructureError
from grader.scoring.outcomes import TestOutcome
from grader.settings import ExecutionLimits, SandboxLimits


class JudgeJob(BaseModel):
    """The job file ``python -m workers.judge JOB.json`` reads."""

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
    artifacts_dir: Path | None = Field(
        None, description="where the artifacts fixture writes PNGs; default: artifacts/ next to result_path"
    )
    gpu: bool = False
    cpu_fallback: bool = Field(
        False,
        description="the rubric's fallback queue is cpu: a gpu job where no GPU is here (and none was pinned) "
        "runs on the CPU instead of failing",
    )
    gpu_device: str | None = Field(
        None, description="the GPU (UUID) this worker was pinned to; default: the judge's own CUDA_VISIBLE_DEVICES"
    )
    reproducible: bool = Field(False, description="seed the kernel with kernel_seed, deterministic torch")
    kernel_seed: int = 0
    imports: list[str] = Field(
        default_factory=list,
        description="the slow modules (numpy, torch, torchvision) the notebook imports: what the next warm kernel pre-imports",
    )
    model_files: list[str] = Field(
        default_factory=list,
        description="the rubric's model files that were submitted: inspected in the job's sandbox before any "
        "student code runs there; the models fixture answers from those facts",
    )


class WarmUnit(BaseModel):
    """What a warm judge (``python -m workers.judge --warm``) reads first: the sandbox to start
    before its job is known. Its job must match ``key`` (``warm_key``), else it gets none."""

    model_config = ConfigDict(extra="forbid")

    backend: str
    runtime_dir: Path
    limits: SandboxLimits
    folder: Path = Field(description="the unit's own scratch folder (its runner, an empty submission dir)")
    idle_s: float = Field(gt=0, description="how long it waits for a job before it exits")
    preimport: list[str] = Field(default_factory=list, description="what its kernel imports while it waits")
    zygote: str | None = Field(
        None, description="the socket of the template its runner is forked from (bwrap only); None: started cold"
    )

    @property
    def key(self) -> str:
        return warm_key(self.backend, self.runtime_dir, self.limits)


def warm_key(backend: str, runtime_dir: Path, limits: SandboxLimits) -> str:
    """What a warm sandbox was made with; a job needing anything else gets a cold one."""
    return json.dumps([backend, str(runtime_dir), limits.model_dump(mode="json")], sort_keys=True)


def job_warm_key(job: JudgeJob) -> str | None:
    """The warm unit a job can use; None: none (a gpu job starts its sandbox cold)."""
    return None if job.gpu else warm_key(job.backend, job.runtime_dir, job.limits)


class JudgedTest(BaseModel):
    """One hidden test as the judge's plugin reported it."""

    model_config = ConfigDict(extra="forbid")

    outcome: TestOutcome
    fraction: float = Field(0.0, ge=0.0, le=1.0, description="the share of the test's points earned")
    message: str = ""
    duration_s: float = 0.0


class ArtifactRecord(BaseModel):
    """A PNG the ``artifacts`` fixture kept, as the result lists it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    title: str = ""
    media_type: str
    sha256: str
    size_bytes: int = Field(ge=0)
    path: Path = Field(description="the PNG in the job's artifacts folder")
    test: str | None = Field(None, description="the node id of the test whose body drew it")


class JudgeResult(BaseModel):
    """The result file the judge writes once per job (also when the run failed on our side)."""

    model_config = ConfigDict(extra="forbid")

    seed: int
    tests: dict[str, JudgedTest] = Field(default_factory=dict)
    collected: list[str] = Field(default_factory=list)
    protocol_violation: str | None = None
    execution: dict[str, Any] | None = Field(None, description="what the runner executed and skipped")
    executed_notebook_path: Path | None = None
    sandbox: dict[str, Any] | None = Field(None, description="how the sandbox ended, for operators")
    infrastructure_error: str | None = Field(None, description="ours: the run is retried, never marked")
    device: str | None = Field(None, description="what the student's code ran on: 'cpu', or the GPU's name")
    artifacts: list[ArtifactRecord] = Field(default_factory=list)


def write_model(path: Path, model: BaseModel, *, mode: int | None = None) -> None:
    """Atomically (a reader never sees half a file); ``mode``: the file's permissions, set before
    it appears under its name. NaN or infinity is refused, as JSON has neither."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(model.model_dump(mode="json"), indent=1, allow_nan=False))
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_result(path: Path) -> JudgeResult:
    """The judge's result; a missing, unreadable or malformed one is ours (InfrastructureError)."""
    try:
        return JudgeResult.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise InfrastructureError(f"the judge's result {path.name} cannot be read: {exc.strerror or exc}") from None
    except ValidationError as exc:
        raise InfrastructureError(f"the judge's result {path.name} is malformed: {_first_problem(exc)}") from None


def _first_problem(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)  # inputs may be student text: not echoed
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "the file"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"
