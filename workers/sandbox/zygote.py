"""The host's side of the student zone's template (workers/runner/zygote.py): start it, and join
a runner forked from it into a fresh bwrap sandbox.

``Zygote`` starts the template as the student's uid (setpriv, no groups, the sandbox's environment),
in a cgroup of its own, with a listening socket only root can connect to; ``join_runner`` asks it for a runner for
one sandbox, moves the forked child into the job's cgroup before it may go on, and hands back the
runner's pipes. The sandbox itself is started by ``BwrapBackend.start(spec, zygote=...)`` exactly as
for a cold runner (same namespaces, mounts, cgroup, limits), with pid 1 waiting to adopt.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

from grader.settings import SandboxLimits

from .base import SandboxError
from .cgroup import create_job_cgroup
from .seccomp import deny_filter

READY_TIMEOUT_S = 120.0
REPLY_TIMEOUT_S = 30.0
REQUEST_LIMIT = 256 * 1024
REAPER = Path(__file__).with_name("reaper.py")


class Zygote:
    """One template process for sandboxes of one runtime, runner folder and environment.

    It runs the runtime as the student's uid on the host, so it is held like a job: in a cgroup of
    its own (the job's memory and process limits) that it joins before it starts (``reaper.py``, as
    a sandbox's launcher does), killed whole with it, and gone when the process that started it is.
    """

    def __init__(
        self,
        runtime_dir: Path,
        runner_dir: Path,
        env: dict[str, str],
        limits: SandboxLimits,
        *,
        modules: Sequence[str] = (),
    ):
        self.runtime_dir, self.runner_dir = runtime_dir, runner_dir
        self._folder = Path(tempfile.mkdtemp(prefix="grader-zygote-"))
        self.path = str(self._folder / "socket")
        seccomp = self._folder / "seccomp"
        seccomp.write_bytes(deny_filter())
        seccomp.chmod(0o644)
        self._folder.chmod(0o711)  # the template (not root) reads the filter by its name; nobody lists the folder
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._listener.bind(self.path)
        os.chmod(self.path, 0o600)  # only root connects
        self._listener.listen(64)
        self._cgroup = create_job_cgroup(f"grader-{uuid.uuid4().hex[:16]}", limits)
        ready_r, ready_w = os.pipe()
        argv = [
            sys.executable, "-I", "-S", str(REAPER), str(ready_w), *map(str, self._cgroup.procs_files), "--",
            "/usr/bin/setpriv", f"--reuid={limits.uid}", f"--regid={limits.gid}", "--clear-groups", "--",
            "/usr/bin/env", *(f"{k}={v}" for k, v in env.items()),
            str(runtime_dir / "bin" / "python"), "-I", "-B", str(runner_dir / "boot.py"), "--zygote",
            str(self._listener.fileno()), str(seccomp), *modules,
        ]  # fmt: skip
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,  # its end is the template's: it exits when we do
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={},
                cwd="/",
                pass_fds=[self._listener.fileno(), ready_w],
                start_new_session=True,
            )
        except OSError:
            os.close(ready_r)
            self._cgroup.remove()
            raise
        finally:
            os.close(ready_w)
        with os.fdopen(ready_r, "rb") as ready_pipe:
            joined = ready_pipe.read(1) == b"1"
        self._stderr = bytearray()
        self._drain = threading.Thread(target=self._read_stderr, name="zygote-stderr", daemon=True)
        self._drain.start()
        assert self._proc.stdout is not None
        timer = threading.Timer(READY_TIMEOUT_S, self._proc.kill)
        timer.start()
        try:
            ready = self._proc.stdout.readline() if joined else b""
        finally:
            timer.cancel()
        if ready != b"ready\n":
            self.close()
            raise SandboxError(f"the student zone's template did not start: {self.stderr_tail()}")

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr += line
            del self._stderr[: max(0, len(self._stderr) - 8192)]

    def stderr_tail(self) -> str:
        return self._stderr.decode("utf-8", "replace")[-2000:]

    def alive(self) -> bool:
        return self._proc.poll() is None

    def close(self) -> None:
        """The template exits (its runners live on in their sandboxes, each killed with its job)."""
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._cgroup.kill()  # the template and any child of it not yet moved into its job's cgroup
        finally:
            self._proc.kill()
            self._proc.wait()
            self._cgroup.remove()
            self._listener.close()
            shutil.rmtree(self._folder, ignore_errors=True)


def sandbox_pid1(pids: set[int]) -> int:
    """Of a job cgroup's host pids, the one that is pid 1 of a pid namespace below the host's."""
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:"):
                ids = line.split()[1:]
                if len(ids) >= 2 and ids[-1] == "1":
                    return pid
    raise SandboxError("the sandbox's pid 1 is not in its cgroup")


def join_runner(
    path: str,
    pid1: int,
    env: dict[str, str],
    rlimits: dict[str, tuple[int, int]],
    procs_files: Sequence[Path],
) -> tuple[int, int, int]:
    """A runner forked from the template at ``path``, joined to the sandbox of ``pid1``, in the
    job's cgroup. Returns (its stdin's write end, its stdout's read end, its stderr's read end)."""
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    go_r, go_w = os.pipe()
    theirs = [stdin_r, stdout_w, stderr_w, go_r]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            conn.settimeout(REPLY_TIMEOUT_S)
            conn.connect(path)
            request = {"pid1": pid1, "env": env, "rlimits": {k: list(v) for k, v in rlimits.items()}}
            socket.send_fds(conn, [json.dumps(request).encode()], theirs)
            reply = json.loads(conn.recv(REQUEST_LIMIT) or b"{}")
        if "pid" not in reply:
            raise SandboxError(f"the student zone's template refused: {reply.get('error', 'no reply')}")
        for procs in procs_files:  # before it may go on: every process it makes is the job's
            procs.write_text(str(reply["pid"]))
        os.write(go_w, b"1")
    except (OSError, ValueError) as e:
        for fd in (stdin_w, stdout_r, stderr_r):
            os.close(fd)
        raise SandboxError(f"cannot join a runner to the sandbox: {e}") from e
    finally:
        for fd in (*theirs, go_w):
            os.close(fd)
    return stdin_w, stdout_r, stderr_r
