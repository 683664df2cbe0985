"""Start the real runner, in the real bwrap sandbox, on a notebook built here; talk to it as the judge does.

Imported by the runner tests (and usable by others) as ``runner_harness``."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from grader.settings import ExecutionLimits, SandboxLimits, Settings
from workers.judge.client import StudentClient
from workers.judge.staging import RUNNER_ENV, stage_runner
from workers.runner import RUNNER_ARGV

RUNTIME = Path("/opt/grader/runtime")
SANDBOX_LIMITS = dict(memory_mb=3072, pids=256, wall_time_s=300, cpu_time_s=300, work_dir_mb=64, tmp_mb=128)


def require_sandbox() -> None:
    """Missing prerequisites fail these tests; they never skip silently."""
    problems = []
    if not os.access("/usr/bin/bwrap", os.X_OK):
        problems.append("bubblewrap is not installed (/usr/bin/bwrap)")
    if not (RUNTIME / "bin" / "python").exists():
        problems.append(f"the course runtime is missing at {RUNTIME}")
    if os.geteuid() != 0:
        problems.append("the sandbox needs root (cgroups, setpriv)")
    if problems:
        pytest.fail("sandbox prerequisites missing: " + "; ".join(problems), pytrace=False)


@dataclass
class Runner:
    client: StudentClient
    proc: object
    root: Path

    def run(self, *args, **kwargs):
        return self.client.run(*args, **kwargs)

    @property
    def report(self):
        return self.client.report

    def close(self):
        self.client.close()
        self.proc.wait(10)
        outcome = self.proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)
        return outcome


def start_runner(
    cells: list[str],
    *,
    mode: str = "full",
    files: dict[str, bytes] | None = None,
    execution: dict | None = None,
    notebook: str | None = "nb.ipynb",
) -> Runner:
    from workers.sandbox import get_backend
    from workers.sandbox.base import SandboxSpec

    require_sandbox()
    root = Path(tempfile.mkdtemp(prefix="grader-runner-test-", dir="/var/tmp"))
    root.chmod(0o755)
    sub = root / "submission"
    sub.mkdir(mode=0o755)
    if notebook:
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), sub / notebook)
    for name, data in (files or {}).items():
        (sub / name).write_bytes(data)
    for p in sub.iterdir():
        p.chmod(0o644)
    stage_runner(root / "runner")
    limits = SandboxLimits(**SANDBOX_LIMITS)
    proc = get_backend("bwrap", Settings()).start(
        SandboxSpec(
            argv=list(RUNNER_ARGV),
            runtime_dir=RUNTIME,
            runner_dir=root / "runner",
            submission_dir=sub,
            limits=limits,
            env=dict(RUNNER_ENV),
        )
    )
    client = StudentClient(
        proc,
        ExecutionLimits(
            **{"cell_timeout_s": 20, "notebook_timeout_s": 120, "test_call_timeout_s": 10, **(execution or {})}
        ),
    )
    runner = Runner(client, proc, root)
    try:
        client.start(notebook, mode)
    except BaseException:
        print(runner.close().log.decode(errors="replace")[-5000:])
        raise
    return runner
