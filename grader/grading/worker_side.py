"""What grading needs from the worker side, as protocols: the domain names them, ``workers`` implements them.

The pipeline launches the judge and the pre-check runs the model loader in a sandbox; both are
worker code (processes, sandboxes) the domain must not import. The composition roots (the CLI,
the worker process, scripts, tests) pass an implementation in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from grader.grading.job import Job
from grader.grading.job_schema import JudgeResult
from grader.settings import SandboxLimits, Settings


class JudgeLauncher(Protocol):
    def run(self, job: Job, timeout_s: float) -> JudgeResult:
        """Run the judge on ``job.job_file`` and return what it wrote to ``job.result_path``.
        Raises ``InfrastructureError`` when it ran past ``timeout_s`` or left no valid result."""
        ...


@dataclass(frozen=True)
class InspectionRun:
    """What the model loader printed (capped) and how its sandbox ended."""

    stdout: bytes
    exit_code: int | None
    oom_killed: bool
    wall_timeout: bool
    log: bytes  # the sandbox's own log (stderr), for operators


class ModelInspector(Protocol):
    def inspect_models(
        self,
        folder: Path,
        submission_dir: Path,
        names: Sequence[str],
        limits: SandboxLimits,
        settings: Settings,
        backend: str,
    ) -> InspectionRun:
        """Load each of ``names`` (files of ``submission_dir``) with the runner's model loader in a
        sandbox of ``backend`` under ``limits``; ``folder`` is the job's scratch folder.
        Raises when the sandbox cannot start (the pre-check reports that as ours)."""
        ...
