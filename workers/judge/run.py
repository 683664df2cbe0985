"""One grading run in the judge: sandbox up, notebook run, hidden suite run, sandbox down, result written."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest

from grader.grading.job_schema import JudgedTest, JudgeJob, JudgeResult, write_model
from workers.runner import RUNNER_ARGV, RUNNER_FILES
from workers.sandbox.base import RUNTIME_MOUNT, SandboxOutcome

from .api import ProtocolViolation
from .client import InfrastructureError, StudentClient
from .kept import Artifacts
from .model_files import Models
from .plugin import JudgePlugin, Submission

RUNNER_SOURCE = Path(__file__).resolve().parent.parent / "runner"
RUNNER_ENV = {
    "PATH": f"{RUNTIME_MOUNT}/bin:/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HOME": "/tmp",
}
LOG_TAIL_CHARS = 20_000


def stage_runner(target: Path, source: Path | None = None) -> None:
    """Copy the runner's files (only those) where the sandbox uid can read them; the repo may not be.

    ``source`` (tests only): a stand-in runner folder, copied whole.
    """
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o755)
    names = RUNNER_FILES if source is None else sorted(p.name for p in source.glob("*.py"))
    for name in names:
        dst = target / name
        shutil.copyfile((source or RUNNER_SOURCE) / name, dst)
        dst.chmod(0o644)


def pytest_args(hidden_dir: Path) -> list[str]:
    # The hidden folder is the root: no config or conftest from its parents, no caches written into it,
    # plain asserts (a bare assert's rewritten message would show expected values to students).
    return [
        str(hidden_dir),
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:stepwise",
        "-c",
        os.devnull,
        "--rootdir",
        str(hidden_dir),
        "--confcutdir",
        str(hidden_dir),
        "--assert=plain",
        "--continue-on-collection-errors",
        "--tb=short",
        "-o",
        "console_output_style=classic",
    ]


def run_suite(plugin: JudgePlugin, hidden_dir: Path) -> str | None:
    """Run the hidden suite in this process. Returns an infrastructure error, if any."""
    sys.dont_write_bytecode = True
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    os.environ.pop("PYTEST_ADDOPTS", None)
    code = pytest.main(pytest_args(hidden_dir), plugins=plugin.plugins())
    missing = [n for n in plugin.collected if n not in plugin.results]
    if code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        return f"pytest failed to run the hidden suite (exit {int(code)})"
    if plugin.collection_errors or code == pytest.ExitCode.INTERRUPTED:
        return "the hidden suite has collection errors: " + ", ".join(plugin.collection_errors)[:500]
    if missing:
        return f"{len(missing)} collected tests did not report"
    return None


def sandbox_facts(outcome: SandboxOutcome | None) -> dict[str, Any] | None:
    if outcome is None:
        return None
    log = outcome.log.decode("utf-8", errors="replace")[-LOG_TAIL_CHARS:]
    return {
        "exit_code": outcome.exit_code,
        "oom_killed": outcome.oom_killed,
        "pids_limit_hit": outcome.pids_limit_hit,
        "wall_timeout": outcome.wall_timeout,
        "log_tail": log,
    }


def run_job(job: JudgeJob, runner_source: Path | None = None) -> JudgeResult:
    from grader.grading.precheck import precheck_limits
    from grader.settings import get_settings
    from workers.sandbox import get_backend
    from workers.sandbox.base import SandboxError, SandboxSpec
    from workers.sandbox.gpu import check_released, job_device

    seed = job.seed if job.seed is not None else secrets.randbelow(2**31)
    result = JudgeResult(seed=seed)
    proc = device = None
    try:
        stage_runner(job.runner_dir, runner_source)
        base = get_settings()  # the judge's own start-up; the job file overrides what the host decided
        settings = base.model_copy(
            update={
                "runtime_dir": job.runtime_dir,
                "sandbox": job.limits,
                "execution": job.execution,
                "gpu_device": job.gpu_device or base.gpu_device,
            }
        )
        backend = get_backend(job.backend, settings)
        env = dict(RUNNER_ENV)
        if job.gpu:  # this worker's one device; refused if it was taken out of service
            device = job_device(settings)
            env["GRADER_GPU_MEMORY_FRACTION"] = str(settings.gpu_memory_fraction)
        if job.reproducible:  # read by the runner's prelude
            env.update(GRADER_REPRODUCIBLE="1", GRADER_SEED=str(job.kernel_seed))
        spec = SandboxSpec(
            argv=list(RUNNER_ARGV),
            runtime_dir=job.runtime_dir,
            runner_dir=job.runner_dir,
            submission_dir=job.submission_dir,
            limits=job.limits,
            env=env,
            gpu=job.gpu,
            device=device,
        )
        proc = backend.start(spec)
    except (SandboxError, OSError) as e:
        result.infrastructure_error = f"the sandbox did not start: {type(e).__name__}: {str(e)[:500]}"
        if proc is not None:
            result.sandbox = sandbox_facts(proc.kill())
        return result

    client = StudentClient(proc, job.execution)
    try:
        try:
            result.execution = client.start(job.notebook, job.mode)
        except InfrastructureError as e:
            result.infrastructure_error = str(e)
            return result
        except ProtocolViolation:
            pass  # recorded on the client; the suite still runs, and no test using `student` can pass
        if client.notebook_bytes:
            path = job.executed_notebook_path or job.result_path.with_name("executed.ipynb")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(client.notebook_bytes)
            result.executed_notebook_path = path
        submission = Submission(job.submission_dir, job.notebook, job.execution.max_notebook_mb * 2**20)
        models = Models(
            backend.start,
            runtime_dir=job.runtime_dir,
            runner_dir=job.runner_dir,
            submission_dir=job.submission_dir,
            limits=precheck_limits(job.limits),
        )
        artifacts = Artifacts(job.artifacts_dir or job.result_path.with_name("artifacts"))
        plugin = JudgePlugin(client, submission, job.hidden_dir, seed, models=models, artifacts=artifacts)
        # A model inspector that could not run is ours: the whole run is retried, never marked.
        result.infrastructure_error = run_suite(plugin, job.hidden_dir) or models.infrastructure_error
        result.tests = {node: JudgedTest.model_validate(t) for node, t in plugin.results.items()}
        result.collected = plugin.collected
        result.artifacts = artifacts.records()
    finally:
        client.close()
        proc.wait(10)
        result.sandbox = sandbox_facts(proc.kill())
        result.protocol_violation = client.violation
        if device is not None:  # the job is dead: anything still on its GPU takes the GPU out of service
            check_released(settings, device)
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m workers.judge JOB.json", file=sys.stderr)
        return 2
    try:
        job = JudgeJob.model_validate_json(Path(argv[0]).read_text())
    except (OSError, ValueError) as e:  # no valid job: no result path to write to
        print(f"bad job file: {e}", file=sys.stderr)
        return 2
    try:
        result = run_job(job)
    except Exception as e:  # a bug of ours: still a result, marked as infrastructure
        traceback.print_exc()
        result = JudgeResult(
            seed=job.seed if job.seed is not None else 0,
            infrastructure_error=f"judge failed: {type(e).__name__}: {str(e)[:500]}",
        )
    write_model(job.result_path, result)
    return 0
