"""The model loader in a sandbox: the worker side of the pre-check (``grader.grading.worker_side.ModelInspector``).

The loader (``workers/runner/inspect_models.py``) reads model files with no student code running;
the pre-check runs it once for all of a submission's files, the judge's ``models`` fixture once
per file. Both start it here, and both read its JSON lines with ``grader.grading.precheck``.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import workers.runner
from grader.grading.worker_side import InspectionRun
from grader.settings import SandboxLimits, Settings
from workers.run_outputs import environment_digest
from workers.runner import INSPECT_ARGV
from workers.sandbox import get_backend
from workers.sandbox.base import RUNTIME_MOUNT, SUBMISSION_MOUNT, SandboxProcess, SandboxSpec

MAX_OUTPUT_BYTES = 1 << 20
SANDBOX_ENV = {
    "PATH": f"{RUNTIME_MOUNT}/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HOME": "/tmp",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}  # torch's threads count as pids
LOADER = Path(workers.runner.__file__).with_name("inspect_models.py")


def loader_version(settings: Settings) -> str | None:
    """What a model file's verdict depends on besides its bytes (``grader.grading.precheck.VerdictCache``):
    the loader script and the runtime it runs in (torch's version among them). None when the runtime
    has no digest: then nothing is reused, since it cannot be told whether the loader is the same."""
    runtime = environment_digest(settings)
    if runtime is None:
        return None
    return hashlib.sha256(LOADER.read_bytes() + b"\n" + runtime.encode()).hexdigest()


def run_loader(
    start: Callable[[SandboxSpec], SandboxProcess],
    *,
    runtime_dir: Path,
    runner_dir: Path,
    submission_dir: Path,
    names: Sequence[str],
    limits: SandboxLimits,
) -> InspectionRun:
    """Run the loader on ``names`` (paths relative to the submission); ``runner_dir`` holds it.
    ``start``'s errors (the sandbox did not start) reach the caller."""
    spec = SandboxSpec(
        argv=[*INSPECT_ARGV, *(f"{SUBMISSION_MOUNT}/{n}" for n in names)],
        runtime_dir=runtime_dir,
        runner_dir=runner_dir,
        submission_dir=submission_dir,
        limits=limits,
        env=dict(SANDBOX_ENV),
        gpu=False,
    )
    proc = start(spec)
    try:
        proc.stdin.close()
        out = read_capped(proc.stdout, MAX_OUTPUT_BYTES, limits.wall_time_s + 10)
        proc.wait(10)
    finally:
        outcome = proc.kill()
    return InspectionRun(
        stdout=out,
        exit_code=outcome.exit_code,
        oom_killed=outcome.oom_killed,
        wall_timeout=outcome.wall_timeout,
        log=outcome.log,
    )


class SandboxModelInspector:
    """The pre-check's inspector: copies the loader into the job folder and runs it in ``backend``."""

    def inspect_models(
        self,
        folder: Path,
        submission_dir: Path,
        names: Sequence[str],
        limits: SandboxLimits,
        settings: Settings,
        backend: str,
    ) -> InspectionRun:
        runner = folder / "runner"
        runner.mkdir(mode=0o755)
        script = runner / LOADER.name
        shutil.copyfile(LOADER, script)
        script.chmod(0o644)
        return run_loader(
            get_backend(backend, settings).start,
            runtime_dir=settings.runtime_dir,
            runner_dir=runner,
            submission_dir=submission_dir,
            names=names,
            limits=limits,
        )


def read_capped(stream: IO[bytes], cap: int, timeout_s: float) -> bytes:
    """Read until EOF (the sandbox's wall-clock kill guarantees one), at most ``cap`` bytes kept."""
    chunks: list[bytes] = []
    # read1: whatever is there now, so the cap is checked as bytes arrive (IO[bytes] does not declare it)
    read1: Callable[[int], bytes] = getattr(stream, "read1")  # noqa: B009 - typed through the annotation

    def drain() -> None:
        size = 0
        try:
            while chunk := read1(65536):
                if size < cap:
                    chunks.append(chunk[: cap - size])
                size += len(chunk)
        except (OSError, ValueError):  # the pipe was closed under us by the kill
            pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    reader.join(timeout_s)
    return b"".join(chunks)
