"""The one small interface every sandbox backend implements (bwrap now, docker later).

A backend starts one untrusted program (the runner) in the student zone and hands back
its stdin/stdout pipes; everything else the program did is killed by ``kill()``.

Inside the sandbox, whatever the backend:
- ``/opt/grader/runtime``  the course runtime (read-only); ``python`` is ``/opt/grader/runtime/bin/python``
- ``/opt/grader/runner``   the runner's own files (read-only)
- ``/submission``          a copy of the student's files (read-only)
- ``/work``                the writable, size-limited work dir (empty at start); also the cwd
- ``/tmp``, ``/dev/shm``   size-limited tmpfs
- no network but loopback, an unprivileged uid, an empty environment but ``spec.env``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from grader.settings import SandboxLimits

if TYPE_CHECKING:
    from .gpu import Device

RUNTIME_MOUNT = "/opt/grader/runtime"
RUNNER_MOUNT = "/opt/grader/runner"
SUBMISSION_MOUNT = "/submission"
WORK_MOUNT = "/work"


class SandboxError(Exception):
    """The sandbox could not be started or managed: an infrastructure failure, never the student's."""


@dataclass(frozen=True)
class SandboxSpec:
    argv: list[str]  # the command inside the sandbox
    runtime_dir: Path  # host path bound at RUNTIME_MOUNT
    runner_dir: Path  # host path bound at RUNNER_MOUNT (readable by the sandbox uid)
    submission_dir: Path  # host path bound at SUBMISSION_MOUNT (readable by the sandbox uid)
    limits: SandboxLimits
    env: dict[str, str] = field(default_factory=dict)  # the whole environment inside
    gpu: bool = False
    device: Device | None = None  # the GPU of a gpu job (gpu.job_device); None: the worker's pinned one


@dataclass
class SandboxOutcome:
    """What the host saw of a finished sandbox. Facts from the kernel, not from the student."""

    exit_code: int | None
    oom_killed: bool = False
    pids_limit_hit: bool = False
    wall_timeout: bool = False
    log: bytes = b""  # stderr of the sandbox, capped at limits.log_bytes


class SandboxProcess(Protocol):
    stdin: IO[bytes]  # to the program inside
    stdout: IO[bytes]  # from the program inside

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int | None:
        """Exit code, or None if still running after ``timeout`` seconds."""

    def kill(self) -> SandboxOutcome:
        """Kill every process of the job (idempotent), release its resources, report what happened."""

    def restart_clock(self, wall_time_s: float) -> None:
        """Start the wall-clock limit again, from now: a warm unit's job arrives long after its sandbox started."""


class SandboxBackend(Protocol):
    name: str

    def start(self, spec: SandboxSpec) -> SandboxProcess: ...
