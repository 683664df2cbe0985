"""One grading run in the judge: sandbox up, notebook run, hidden suite run, sandbox down, result written."""

from __future__ import annotations

import importlib
import os
import secrets
import select
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from grader.grading.job_schema import JudgedTest, JudgeJob, JudgeResult, WarmUnit, job_warm_key, write_model
from grader.settings import SandboxLimits, Settings, get_settings
from workers.runner import RUNNER_ARGV, wire
from workers.sandbox.base import SandboxBackend, SandboxOutcome, SandboxProcess, SandboxSpec

from .abandon import WarmUpAbandon, watch_stdin
from .api import ProtocolViolation
from .client import HELLO_TIMEOUT_S, InfrastructureError, StudentClient
from .kept import Artifacts
from .model_files import Models
from .plugin import JudgePlugin, Submission
from .staging import RUNNER_ENV, WARM_FAILED, WARM_READY, stage_runner

LOG_TAIL_CHARS = 20_000
WARM_CPU_S = 60  # RLIMIT_CPU on top of the job's: the warm-up's own CPU (interpreter, kernel, imports)


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
        "--tb=no",  # the plugin words each outcome from its exception; pytest's tracebacks cost 0.05 s
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


@dataclass
class WarmSandbox:
    """A warm unit's sandbox: the runner up, its kernel started and warm, waiting for one job."""

    unit: WarmUnit
    backend: SandboxBackend
    proc: SandboxProcess


def job_settings(runtime_dir: Path, limits: SandboxLimits, **update: Any) -> Settings:
    from grader.settings import get_settings

    base = get_settings()  # the judge's own start-up; the job (or unit) overrides what the host decided
    return base.model_copy(update={"runtime_dir": runtime_dir, "sandbox": limits, **update})


def warm_up(
    unit: WarmUnit, runner_source: Path | None = None, on_started: Callable[[SandboxProcess], None] | None = None
) -> WarmSandbox:
    """Start a sandbox for a job not known yet: the runner, the kernel, the slow imports.

    Its wall clock runs for the wait (``restart_clock`` starts the job's own when the job comes);
    its CPU rlimit allows for the warm-up's CPU on top of the job's. Raises on any failure (ours).
    ``on_started``: called with the sandbox as soon as it is up (``WarmUpAbandon.started``).
    """
    from workers.sandbox import get_backend
    from workers.sandbox.bwrap import BwrapBackend

    stage_runner(unit.folder / "runner", runner_source)
    empty = unit.folder / "submission"  # nothing is bound for the job: its files come over the pipe
    empty.mkdir(mode=0o755, exist_ok=True)
    backend = get_backend(unit.backend, job_settings(unit.runtime_dir, unit.limits))
    limits = unit.limits.model_copy(
        update={
            "cpu_time_s": unit.limits.cpu_time_s + WARM_CPU_S,
            "wall_time_s": int(unit.idle_s) + HELLO_TIMEOUT_S + unit.limits.wall_time_s,
        }
    )
    spec = SandboxSpec(
        argv=list(RUNNER_ARGV),
        runtime_dir=unit.runtime_dir,
        runner_dir=unit.folder / "runner",
        submission_dir=empty,
        limits=limits,
        env=dict(RUNNER_ENV),
    )
    proc: SandboxProcess
    if unit.zygote and isinstance(backend, BwrapBackend):  # its runner forked from the pool's template
        proc = backend.start(spec, zygote=unit.zygote)
    else:
        proc = backend.start(spec)
    if on_started is not None:
        on_started(proc)
    try:
        warm = {"type": "warm", "max_files_bytes": unit.limits.work_dir_mb * 2**20, "preimport": unit.preimport}
        wire.write_message(proc.stdin, warm, [], time.monotonic() + 30)
        reply = wire.read_message(
            proc.stdout, wire.WireLimits(64 * 1024, 0, 64 * 1024 + 8), time.monotonic() + HELLO_TIMEOUT_S
        )
        if reply.header != {"type": "warmed"}:
            raise InfrastructureError(f"the warm runner said {str(reply.header)[:300]}")
    except BaseException as e:
        log = proc.kill().log.decode("utf-8", "replace")[-2000:]
        if isinstance(e, wire.WireError):
            raise InfrastructureError(f"the warm runner did not start: {e}: {log}") from None
        raise
    return WarmSandbox(unit, backend, proc)


def submission_files(folder: Path, cap: int) -> list[tuple[str, bytes]]:
    """The staged submission, for a warm unit's pipe: regular files by relative name (links skipped,
    as the runner's own copy skips them); over ``cap`` bytes in all is ours (the work dir is that big)."""
    files, total = [], 0
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file() or any(p.is_symlink() for p in path.relative_to(folder).parents):
            continue
        data = path.read_bytes()
        total += len(data)
        if total > cap:
            raise InfrastructureError(f"the submission's files are over the work dir's {cap} bytes")
        files.append((path.relative_to(folder).as_posix(), data))
    return files


def run_job(job: JudgeJob, runner_source: Path | None = None, warm: WarmSandbox | None = None) -> JudgeResult:
    """Grade ``job``: in a sandbox started now, or in ``warm``'s (which must match the job's key)."""
    from grader.grading.precheck import precheck_limits
    from workers.sandbox import get_backend
    from workers.sandbox.base import SandboxError
    from workers.sandbox.gpu import check_released, cpu_job, describe, job_device

    seed = job.seed if job.seed is not None else secrets.randbelow(2**31)
    result = JudgeResult(seed=seed)
    proc = device = None
    job_env = {"GRADER_REPRODUCIBLE": "1", "GRADER_SEED": str(job.kernel_seed)} if job.reproducible else {}
    settings = job_settings(
        job.runtime_dir, job.limits, execution=job.execution, gpu_device=job.gpu_device or get_settings().gpu_device
    )
    try:
        if warm is not None:  # its runner was staged (and is running) since the warm-up
            if job_warm_key(job) != warm.unit.key:
                raise SandboxError("the job does not match the warm unit's sandbox")
            backend, proc = warm.backend, warm.proc
            result.device = "cpu"  # a warm sandbox is never a gpu job's
            proc.restart_clock(job.limits.wall_time_s)  # the job's wall clock starts now, not at warm-up
        else:
            stage_runner(job.runner_dir, runner_source)
            backend = get_backend(job.backend, settings)
            env = dict(RUNNER_ENV)
            use_gpu = job.gpu and not cpu_job(settings, cpu_fallback=job.cpu_fallback)
            if use_gpu:  # this worker's one device; refused if it was taken out of service
                device = job_device(settings)
                env["GRADER_GPU_MEMORY_FRACTION"] = str(settings.gpu_memory_fraction)
            if device is not None:
                result.device = describe(device)
            else:  # a cpu job, or a gpu job on a machine with no GPU whose rubric falls back to the CPU
                result.device = "cpu (no GPU here: the rubric falls back to the CPU)" if job.gpu else "cpu"
            env.update(job_env)  # read by the runner's prelude
            spec = SandboxSpec(
                argv=list(RUNNER_ARGV),
                runtime_dir=job.runtime_dir,
                runner_dir=job.runner_dir,
                submission_dir=job.submission_dir,
                limits=job.limits,
                env=env,
                gpu=use_gpu,
                device=device,
            )
            proc = backend.start(spec)
        files = submission_files(job.submission_dir, job.limits.work_dir_mb * 2**20) if warm is not None else None
    except (SandboxError, OSError, InfrastructureError) as e:
        result.infrastructure_error = f"the sandbox did not start: {type(e).__name__}: {str(e)[:500]}"
        if proc is not None:
            result.sandbox = sandbox_facts(proc.kill())
        return result

    client = StudentClient(proc, job.execution)
    try:
        try:
            result.execution = client.start(
                job.notebook,
                job.mode,
                files=files,
                env=job_env if files is not None else None,  # a cold sandbox has it from the start
                models=job.model_files,
                models_timeout_s=precheck_limits(job.limits).wall_time_s,
            )
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
            client.model_facts,
            declared=job.model_files,
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


def preload() -> None:
    """What a judge template (grader.processes.forkserver) imports ahead of its judges, beyond this
    module's own imports: the built-in plugins ``pytest.main`` loads on every run, numpy's
    random module (hidden suites draw from it; numpy imports it lazily, so the fork reseeds it), and
    nbformat's compiled schema validator (a judge reads the submitted notebook with it)."""
    import _pytest.config
    import numpy.random  # noqa: F401

    nbformat.v4.new_notebook()  # compiles and caches the validator: about 0.05 s a judge otherwise

    for name in _pytest.config.default_plugins:
        try:
            importlib.import_module(f"_pytest.{name}")
        except ImportError:
            pass  # a plugin of another pytest version's list


def read_line(fd: int, timeout_s: float | None) -> str:
    """One line from ``fd`` (unbuffered: nothing after it is consumed); "" on end of file or timeout."""
    data = bytearray()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while not data.endswith(b"\n"):
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and (left <= 0 or not select.select([fd], [], [], left)[0]):
            return ""
        chunk = os.read(fd, 1)
        if not chunk:
            return ""
        data += chunk
    return data.decode("utf-8", "replace").strip()


def warm_main() -> int:
    """``python -m workers.judge --warm``: a WarmUnit line on stdin; warm up; say WARM_READY on stdout;
    then one job file's path on stdin (end of file or the unit's idle time: exit, sandbox killed)."""
    try:
        unit = WarmUnit.model_validate_json(read_line(0, 30))
    except ValueError as e:
        print(f"bad warm unit: {e}", file=sys.stderr)
        return 2
    abandon = WarmUpAbandon()
    stop_r, stop_w = os.pipe()
    watcher = threading.Thread(target=watch_stdin, args=(abandon, stop_r), name="warm-up-abandon", daemon=True)
    watcher.start()
    try:
        sandbox = warm_up(unit, on_started=abandon.started)
    except Exception as e:
        print(f"{WARM_FAILED} {type(e).__name__}: {str(e)[:1000]}", flush=True)
        return 1
    finally:
        os.write(stop_w, b"x")  # the watch is over: from here on, stdin is read below
        watcher.join()
    print(WARM_READY, flush=True)
    line = read_line(0, unit.idle_s)
    if not line:
        sandbox.proc.kill()
        return 0
    return main([line], warm=sandbox)


def main(argv: list[str], warm: WarmSandbox | None = None) -> int:
    if argv == ["--warm"]:
        return warm_main()
    if len(argv) != 1:
        print("usage: python -m workers.judge JOB.json | --warm", file=sys.stderr)
        return 2
    try:
        job = JudgeJob.model_validate_json(Path(argv[0]).read_text())
    except (OSError, ValueError) as e:  # no valid job: no result path to write to
        print(f"bad job file: {e}", file=sys.stderr)
        if warm is not None:
            warm.proc.kill()
        return 2
    try:
        result = run_job(job, warm=warm)
    except Exception as e:  # a bug of ours: still a result, marked as infrastructure
        traceback.print_exc()
        result = JudgeResult(
            seed=job.seed if job.seed is not None else 0,
            infrastructure_error=f"judge failed: {type(e).__name__}: {str(e)[:500]}",
        )
    write_model(job.result_path, result)
    return 0
