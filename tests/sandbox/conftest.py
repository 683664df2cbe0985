"""Real bubblewrap, real cgroups, a real Docker engine, the real course runtime. Missing any of them
fails, never skips.

Every test that uses ``sandbox``/``run`` (or asks for ``backend``) runs once per backend, bwrap and
docker; ``@pytest.mark.backends("bwrap")`` narrows a test to the backends whose internals it probes."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.settings import SandboxLimits, Settings
from workers.sandbox import get_backend
from workers.sandbox.base import SandboxOutcome, SandboxSpec

BACKENDS = ("bwrap", "docker")
# Every test program starts with this: report(**kw) prints one JSON line for the host to read.
PRELUDE = "import json, os, sys\ndef report(**kw): print(json.dumps(kw), flush=True)\n"
RUNTIME = Path("/opt/grader/runtime")
PYTHON = "/opt/grader/runtime/bin/python"  # the path inside the sandbox (same as on the host)
# Small, fast limits; a test overrides what it probes.
TEST_LIMITS = {
    "memory_mb": 256, "pids": 64, "cpus": 1.0, "cpu_time_s": 30, "wall_time_s": 5, "file_size_mb": 8,
    "work_dir_mb": 16, "tmp_mb": 16, "shm_mb": 16, "log_bytes": 64 * 1024,
}  # fmt: skip


def pytest_configure(config):
    config.addinivalue_line("markers", "backends(*names): run only on these sandbox backends")


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        metafunc.parametrize("backend", marker.args if marker else BACKENDS)


def docker_problems() -> list[str]:
    """What the docker backend lacks here (the engine, the image), for a clear failure."""
    from grader.settings import Settings
    from workers.sandbox.base import SandboxError
    from workers.sandbox.docker_client import image_id

    try:
        image_id(Settings())
    except SandboxError as e:
        return [f"{e} (make services)"]
    return []


@pytest.fixture(scope="session")
def docker_ready():
    problems = docker_problems()
    if problems:
        pytest.fail("docker backend prerequisites missing:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def backend_ready(backend, request):
    if backend == "docker":
        request.getfixturevalue("docker_ready")
    return backend


@pytest.fixture(scope="session", autouse=True)
def sandbox_prerequisites():
    problems = []
    if not os.access("/usr/bin/bwrap", os.X_OK):
        problems.append("bubblewrap is not installed (/usr/bin/bwrap): apt-get install bubblewrap")
    if not (RUNTIME / "bin" / "python").exists() or not (RUNTIME / "DIGEST").exists():
        problems.append(f"the course runtime is missing at {RUNTIME}: run scripts/install_runtime.sh")
    if os.geteuid() != 0:
        problems.append("the sandbox tests need root (cgroups, setpriv)")
    if problems:
        pytest.fail("sandbox prerequisites missing:\n  " + "\n  ".join(problems), pytrace=False)


@dataclass
class Job:
    """Host-side dirs of one job, reachable by the sandbox uid (tmp_path, under /tmp/pytest-of-root, is not)."""

    root: Path
    runner: Path
    submission: Path


@pytest.fixture
def job():
    root = Path(tempfile.mkdtemp(prefix="grader-sandbox-test-", dir="/var/tmp"))
    root.chmod(0o755)
    runner, submission = root / "runner", root / "submission"
    for d in (runner, submission):
        d.mkdir(mode=0o755)
    yield Job(root, runner, submission)
    shutil.rmtree(root)


@pytest.fixture
def settings():
    return Settings()


@pytest.fixture
def make_spec(job):
    """make_spec(code, env=None, **limits) -> the spec of ``python prog.py`` inside: PRELUDE + ``code``."""

    def make(code: str, env: dict | None = None, **limits) -> SandboxSpec:
        (job.runner / "prog.py").write_text(PRELUDE + code)
        (job.runner / "prog.py").chmod(0o644)
        return SandboxSpec(
            argv=[PYTHON, "/opt/grader/runner/prog.py"],
            runtime_dir=RUNTIME,
            runner_dir=job.runner,
            submission_dir=job.submission,
            limits=SandboxLimits(**{**TEST_LIMITS, **limits}),
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"} if env is None else env,
        )

    return make


@pytest.fixture
def sandbox(make_spec, settings, backend_ready):
    """start(code, **limits) -> the running SandboxProcess of ``python prog.py`` inside, on the test's
    backend. Killed after the test."""
    started = []

    def start(code: str, env: dict | None = None, settings: Settings = settings, **limits):
        proc = get_backend(backend_ready, settings).start(make_spec(code, env, **limits))
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


@pytest.fixture
def run(sandbox):
    """run(code, stdin=b"", **limits) -> (stdout, outcome): runs to the end (or the wall-clock kill)."""

    def run(code: str, stdin: bytes = b"", env: dict | None = None, **limits) -> tuple[bytes, SandboxOutcome]:
        proc = sandbox(code, env=env, **limits)

        def feed():
            try:
                proc.stdin.write(stdin)
                proc.stdin.close()
            except (BrokenPipeError, ValueError):
                pass

        threading.Thread(target=feed, daemon=True).start()
        out = proc.stdout.read()
        proc.wait()
        return out, proc.kill()

    return run
