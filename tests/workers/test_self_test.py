"""A worker tests its own sandbox when it starts: a tiny job under the limits of a real one, cgroups
included. Where the sandbox cannot start one, ``grader worker`` refuses to serve: it exits with
``EXIT_CODE`` and a message naming the cause and the fix, before it takes a run or announces itself.

Each failure is made real where it can be: bubblewrap missing (the configured path has none), a
read-only cgroup tree (a read-only bind of every cgroup mount, in a mount namespace of the worker's
own), no Docker engine (DOCKER_HOST at a socket nobody listens on). User namespaces cannot be turned
off for one process without turning them off for the machine: that diagnosis is tested on the
kernel settings it reads."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest
from worker_kit import GRADER, World, wait_for

from grader.runs.registry import live_workers
from grader.settings import REPO_ROOT, Settings
from workers import selftest
from workers.selftest import EXIT_CODE, diagnose, read_sysctls, self_test

pytestmark = [pytest.mark.sandbox]

# Every cgroup mount of this machine bound read-only onto itself, in the worker's own mount namespace
# (private: the host's mounts are untouched), then the worker.
READ_ONLY_CGROUPS = (
    'for d in $(grep -E " - cgroup2? " /proc/self/mountinfo | cut -d" " -f5); do '
    'mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" || exit 99; done; exec "$@"'
)


def refused(world: World, wrap: list[str] | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    cmd = [*(wrap or []), GRADER, "worker", "--queues", "precheck,cpu"]
    done = subprocess.run(cmd, env=world.env(**env), capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert done.returncode == EXIT_CODE, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    with world.sessions() as s:
        assert live_workers(session=s) == []  # it never announced itself: no queue counts on it
    return done


def cause_and_fix(stderr: str) -> tuple[str, str]:
    assert "this worker refuses to serve" in stderr, stderr
    cause = re.search(r"^  cause: (.+)$", stderr, re.M)
    fix = re.search(r"^  fix: +(.+)$", stderr, re.M)
    assert cause and fix, stderr
    return cause.group(1), fix.group(1)


def test_a_healthy_worker_passes_the_self_test_quickly_and_serves(world: World):
    worker = world.start_worker()
    found = re.search(r"sandbox self-test passed on bwrap in ([0-9.]+)s", worker.output())
    assert found, worker.output()
    assert float(found.group(1)) < 5  # every worker start pays it

    def registered() -> int:
        with world.sessions() as s:
            return len(live_workers(session=s))

    wait_for(lambda: registered() == 1, 30, "the worker in the registry")


def test_no_bubblewrap(world: World, tmp_path: Path):
    done = refused(world, GRADER_BWRAP_PATH=str(tmp_path / "bin" / "bwrap"))
    cause, fix = cause_and_fix(done.stderr)
    assert "bubblewrap is not installed" in cause and str(tmp_path) in cause
    assert "apt-get install bubblewrap" in fix and "GRADER_BWRAP_PATH" in fix


def test_a_read_only_cgroup_tree(world: World):
    wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY_CGROUPS, "sh"]
    done = refused(world, wrap=wrap)
    cause, fix = cause_and_fix(done.stderr)
    assert "cgroup tree is read-only" in cause and "writable cgroup tree" in fix
    assert "Read-only file system" in done.stderr


def test_no_docker_engine(world: World, tmp_path: Path):
    dead = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(dead))  # a socket file with nobody listening: connection refused
        done = refused(world, GRADER_SANDBOX_BACKEND="docker", DOCKER_HOST=f"unix://{dead}")
    cause, fix = cause_and_fix(done.stderr)
    assert "no Docker engine answers" in cause
    assert "DOCKER_HOST" in fix and "GRADER_SANDBOX_BACKEND=bwrap" in fix


def test_user_namespaces_off_is_named_with_its_sysctl(tmp_path: Path):
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "max_user_namespaces").write_text("0\n")
    sysctls = read_sysctls(tmp_path)
    assert sysctls == {"user/max_user_namespaces": "0"}
    error = "the tiny job exited with 1: bwrap: No permissions to create new namespace"
    found = diagnose("bwrap", error, Settings(), sysctls)
    assert "user.max_user_namespaces = 0" in found.cause and "sysctl -w user.max_user_namespaces" in found.fix
    debian = diagnose("bwrap", error, Settings(), {"kernel/unprivileged_userns_clone": "0"})
    assert "unprivileged_userns_clone = 0" in debian.cause


def test_a_pass_is_remembered_per_backend_and_limits():
    settings = Settings()
    selftest._passed.clear()  # whatever this process passed before
    first = self_test(settings)
    assert 0 < first < 5
    assert self_test(settings) == 0.0  # the same backend and limits in this process: not run again
    tighter = settings.model_copy(update={"sandbox": settings.sandbox.model_copy(update={"pids": 64})})
    assert self_test(tighter) > 0
