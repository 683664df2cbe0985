"""What only the docker backend has: its containers (removed after every ending, start failures
included, and swept when their host process was SIGKILLed), its image, its seccomp profile, and the
image id in a grading run's environment digest. The shared behaviour is in test_bwrap.py."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from grader.settings import Settings
from workers.sandbox import get_backend
from workers.sandbox.base import SandboxError
from workers.sandbox.docker_client import image_id
from workers.sandbox.docker_config import seccomp_profile
from workers.sandbox.docker_orphans import LABEL, reap_orphans

pytestmark = [pytest.mark.sandbox, pytest.mark.backends("docker")]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def api():
    return docker.from_env().api


def start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def containers(api, **labels) -> list[str]:
    """Ids of every container (running or not) carrying these labels: `docker ps -a --filter label=...`."""
    filters = {"label": [f"{k}={v}" for k, v in labels.items()] or [LABEL]}
    return [c["Id"] for c in api.containers(all=True, filters=filters)]


def test_container_is_removed_after_a_normal_run(sandbox, api, backend):
    proc = sandbox("print('hello', flush=True)")
    assert containers(api, **{"grader.job": proc.name}) == [proc.id]  # the label finds it while it exists
    assert proc.stdout.read() == b"hello\n"
    assert proc.wait(10) == 0
    outcome = proc.kill()
    assert outcome.exit_code == 0 and not outcome.wall_timeout and not outcome.oom_killed
    assert containers(api, **{"grader.job": proc.name}) == []


def test_container_is_removed_after_the_wall_clock_kill(sandbox, api, backend):
    proc = sandbox("import time; time.sleep(60)", wall_time_s=2)
    assert proc.wait(10) == 128 + 9  # killed from the host at the wall time, not by kill()
    outcome = proc.kill()
    assert outcome.wall_timeout and outcome.exit_code == 128 + 9
    assert containers(api, **{"grader.job": proc.name}) == []


def test_no_container_is_left_after_a_start_failure(make_spec, settings, api, backend, docker_ready):
    """A GPU asked for on a host without one: the engine refuses the container. Nothing stays."""
    mine = {"grader.host_pid": str(os.getpid())}
    before = set(containers(api, **mine))
    spec = dataclasses.replace(make_spec("print('never')"), gpu=True)
    with pytest.raises(SandboxError, match="(?i)gpu|device"):
        get_backend("docker", settings).start(spec)
    assert set(containers(api, **mine)) == before


def test_orphaned_container_is_swept_by_the_next_backend(make_spec, api, backend, docker_ready):
    """The worker is SIGKILLed mid-job: its container outlives it (nothing on the host kills it then),
    until the next docker backend on this host starts and removes it, its processes with it."""
    spec = make_spec("import time\nprint('ready', flush=True)\ntime.sleep(600)")
    worker = subprocess.Popen(
        [sys.executable, "-c", f"""
import threading
from pathlib import Path
from grader.settings import Settings, SandboxLimits
from workers.sandbox import get_backend
from workers.sandbox.base import SandboxSpec
spec = SandboxSpec({spec.argv!r}, Path({str(spec.runtime_dir)!r}), Path({str(spec.runner_dir)!r}),
                   Path({str(spec.submission_dir)!r}), SandboxLimits.model_validate_json({spec.limits.model_dump_json()!r}))
proc = get_backend("docker", Settings()).start(spec)
proc.stdout.readline()
print(proc.id, flush=True)
threading.Event().wait()
"""],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    container = worker.stdout.readline().decode().strip()
    try:
        assert container, "the worker did not start its container"
        worker.kill()
        worker.wait()
        state = api.inspect_container(container)["State"]
        assert state["Running"]  # orphaned, still running
        init = state["Pid"], start_time(state["Pid"])
        assert container in reap_orphans(docker.from_env())  # what every DockerBackend() does first
        assert container not in containers(api)
        assert start_time(init[0]) != init[1]  # its processes went with it
    finally:
        worker.kill()
        try:
            api.remove_container(container, force=True)
        except docker.errors.APIError:
            pass


def test_a_live_hosts_container_is_not_swept(sandbox, api, backend):
    proc = sandbox("import time; time.sleep(30)")
    assert proc.id not in reap_orphans(docker.from_env())
    assert proc.id in containers(api)
    proc.kill()


def test_seccomp_profile_is_dockers_default_without_ptrace():
    profile = json.loads(seccomp_profile())
    allowed = {n for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert not allowed & {"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "pidfd_open"}
    assert {"read", "clone", "execve", "mmap", "socket"} <= allowed  # the rest of Docker's default stays
    unprivileged_unshare = [r for r in profile["syscalls"] if "unshare" in r["names"]]
    assert all(r.get("includes", {}).get("caps") == ["CAP_SYS_ADMIN"] for r in unprivileged_unshare)


def test_image_build_is_idempotent_and_tiny(docker_ready):
    first = subprocess.run(["bash", "scripts/build_sandbox_image.sh"], cwd=REPO, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    t0 = time.monotonic()
    again = subprocess.run(["bash", "scripts/build_sandbox_image.sh"], cwd=REPO, capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout == first.stdout, again.stderr
    assert time.monotonic() - t0 < 10
    image = docker.from_env().images.get("grader-sandbox:latest")
    assert image.id == image_id(Settings()) and image.attrs["Size"] < 64 * 1024  # no imported OS
    assert image.attrs["Config"]["User"] == "65534:65534"


def test_environment_digest_names_the_image(docker_ready):
    from workers.run_outputs import environment_digest

    bwrap = environment_digest(Settings(sandbox_backend="bwrap"))
    under_docker = environment_digest(Settings(sandbox_backend="docker"))
    assert bwrap and len(bwrap) == 64
    assert under_docker == hashlib.sha256(f"{bwrap}\n{image_id(Settings())}".encode()).hexdigest()
    assert environment_digest(Settings(sandbox_backend="docker", docker_image="grader-sandbox:absent")) is None
