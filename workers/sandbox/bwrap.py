"""The bubblewrap backend: the student zone as an unprivileged bwrap sandbox in a job cgroup.

The launch chain (docs/sandbox.md says why each step is there):

    reaper.py (joins the job cgroups, reaps orphans; forks, then execs with an empty environment)
      -> prlimit -> setpriv (uid/gid) -> bwrap -> pid1.py (pid 1, non-dumpable) -> the program

bwrap's options (host paths included) go through ``--args FD``, so inside, ``/proc/1/cmdline``
shows only the init's and the program's own argv. Kills come from this (host) process: a wall-clock timer and
``kill()`` both act on the job cgroup, so daemons and setsid'd grandchildren die too.
"""

from __future__ import annotations

import functools
import os
import select
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from grader.settings import SandboxLimits, Settings

from . import gpu
from .base import (
    RUNNER_MOUNT,
    RUNTIME_MOUNT,
    SUBMISSION_MOUNT,
    WORK_MOUNT,
    SandboxError,
    SandboxOutcome,
    SandboxSpec,
)
from .cgroup import JobCgroup, create_job_cgroup
from .common import HOSTNAME, CappedLog, MiB, check_reachable
from .seccomp import deny_filter
from .zygote import join_runner, sandbox_pid1

REAPER = Path(__file__).with_name("reaper.py")
INIT = Path(__file__).with_name("pid1.py")  # the sandbox's pid 1, non-dumpable (bwrap --as-pid-1)
INIT_MOUNT = "/.grader-init"
ADOPT = "--adopt"  # pid1.py starts no program: a runner forked from the zygote joins (zygote.py)
ADOPT_TIMEOUT_S = 60.0


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name)  # close-on-exec; pass_fds hands it to our child only
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _etc_files(limits: SandboxLimits) -> dict[str, bytes]:
    """A made-up /etc: who the student is, localhost, and name lookups from files only."""
    uid, gid = limits.uid, limits.gid
    return {
        "/etc/passwd": f"root:x:0:0:root:/root:/usr/sbin/nologin\nstudent:x:{uid}:{gid}::{WORK_MOUNT}:/bin/sh\n".encode(),
        "/etc/group": f"root:x:0:\nstudent:x:{gid}:\n".encode(),
        "/etc/hosts": f"127.0.0.1 localhost {HOSTNAME}\n::1 localhost ip6-localhost\n".encode(),
        "/etc/nsswitch.conf": b"passwd: files\ngroup: files\nhosts: files" + (b" dns\n" if limits.network else b"\n"),
    }


def rlimits(limits: SandboxLimits) -> dict[str, tuple[int, int]]:
    """The job's rlimits (soft, hard): prlimit's for a started program, setrlimit's for a joined runner."""
    cpu, fsize = limits.cpu_time_s, limits.file_size_mb * MiB
    return {"cpu": (cpu, cpu + 1), "fsize": (fsize, fsize), "nofile": (limits.open_files,) * 2, "core": (0, 0)}


class BwrapBackend:
    name = "bwrap"

    def __init__(self, settings: Settings):
        self.bwrap = str(settings.bwrap_path)
        if not os.access(self.bwrap, os.X_OK):
            raise SandboxError(f"bubblewrap not found at {self.bwrap}")
        self.seccomp = deny_filter()
        self.settings = settings

    def start(self, spec: SandboxSpec, zygote: str | None = None) -> BwrapProcess:
        """Start ``spec.argv`` in a fresh sandbox; or, with ``zygote`` (a template's socket,
        workers/sandbox/zygote.py), the same fresh sandbox with a runner forked from the template
        joined to it in place of ``spec.argv``."""
        if not spec.argv:
            raise SandboxError("empty argv")
        limits = spec.limits
        for path in (spec.runtime_dir, spec.runner_dir, spec.submission_dir):
            check_reachable(Path(path), limits.uid)
        device = (spec.device or gpu.job_device(self.settings)) if spec.gpu else None
        gpu_opts = gpu.bwrap_options(device, self.settings.gpu_dev_root) if device else []
        fds: list[int] = []
        try:
            etc = []
            for dest, data in _etc_files(limits).items():
                fds.append(_memfd("etc", data))
                etc += ["--ro-bind-data", str(fds[-1]), dest]
            fds.append(_memfd("init", INIT.read_bytes()))
            etc += ["--ro-bind-data", str(fds[-1]), INIT_MOUNT]
            fds.append(_memfd("seccomp", self.seccomp))
            seccomp_fd = fds[-1]
            options = self._options(spec, etc, seccomp_fd, gpu_opts, gpu.sandbox_env(device) if device else {})
            fds.append(_memfd("args", b"".join(a.encode() + b"\0" for a in options)))
            init = [f"{RUNTIME_MOUNT}/bin/python", "-I", "-S", INIT_MOUNT]
            program = [ADOPT] if zygote else spec.argv
            bwrap_argv = [self.bwrap, "--args", str(fds[-1]), "--", *init, *program]
            cgroup = create_job_cgroup(f"grader-{uuid.uuid4().hex[:16]}", limits)
            try:
                chain = functools.partial(self._launch_chain, cgroup, limits, bwrap_argv)
                proc = BwrapProcess(chain, cgroup, limits, fds)
            except BaseException:
                cgroup.remove()
                raise
            if zygote:
                try:
                    proc.adopt(zygote, {**spec.env, **(gpu.sandbox_env(device) if device else {})}, rlimits(limits))
                except BaseException:
                    proc.kill()
                    raise
            return proc
        finally:
            for fd in fds:
                os.close(fd)

    @staticmethod
    def _launch_chain(cgroup: JobCgroup, limits: SandboxLimits, bwrap_argv: list[str], ready_fd: int) -> list[str]:
        prlimit = [f"--{name}={soft}:{hard}" for name, (soft, hard) in rlimits(limits).items()]
        return [
            sys.executable, "-I", "-S", str(REAPER), str(ready_fd), *map(str, cgroup.procs_files), "--",
            "/usr/bin/prlimit", *prlimit, "--",
            "/usr/bin/setpriv", f"--reuid={limits.uid}", f"--regid={limits.gid}", "--clear-groups", "--",
            *bwrap_argv,
        ]  # fmt: skip

    @staticmethod
    def _options(
        spec: SandboxSpec,
        etc: list[str],
        seccomp_fd: int,
        gpu_opts: Sequence[str] = (),
        gpu_env: dict[str, str] | None = None,
    ) -> list[str]:
        limits = spec.limits
        opts = [
            "--unshare-all", "--unshare-user", "--disable-userns",  # --disable-userns needs an explicit userns
            "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--as-pid-1",  # pid 1 is pid1.py, which no process of the job can read or steer
            "--uid", str(limits.uid), "--gid", str(limits.gid), "--hostname", HOSTNAME,
            "--seccomp", str(seccomp_fd),
            "--ro-bind", "/usr", "/usr",
        ]  # fmt: skip
        for top in ("bin", "lib", "lib32", "lib64", "sbin"):  # merged /usr: mirror the host's links
            host = Path("/", top)
            if host.is_symlink():
                opts += ["--symlink", os.readlink(host), str(host)]
            elif host.is_dir():
                opts += ["--ro-bind", str(host), str(host)]
        opts += etc
        opts += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
        opts += ["--ro-bind-try", "/etc/alternatives", "/etc/alternatives"]  # /usr/bin links into it
        if limits.network:
            opts += ["--share-net", "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"]
        opts += [
            "--proc", "/proc", "--dev", "/dev",
            "--perms", "0700", "--size", str(limits.work_dir_mb * MiB), "--tmpfs", WORK_MOUNT,
            "--perms", "1777", "--size", str(limits.tmp_mb * MiB), "--tmpfs", "/tmp",
            "--perms", "1777", "--size", str(limits.shm_mb * MiB), "--tmpfs", "/dev/shm",
            "--ro-bind", str(spec.runtime_dir), RUNTIME_MOUNT,
            "--ro-bind", str(spec.runner_dir), RUNNER_MOUNT,
            "--ro-bind", str(spec.submission_dir), SUBMISSION_MOUNT,
            "--symlink", WORK_MOUNT, "/content",  # notebooks written on Colab use these paths
            "--symlink", WORK_MOUNT, "/storage",
        ]  # fmt: skip
        opts += gpu_opts  # a gpu job's one GPU (or MIG slice): its node, the control nodes, the driver
        opts += ["--remount-ro", "/", "--chdir", WORK_MOUNT, "--clearenv"]
        for key, value in {**spec.env, **(gpu_env or {})}.items():
            opts += ["--setenv", key, value]
        return opts


class BwrapProcess:
    """One running sandbox. ``stdin``/``stdout`` are the program's; its stderr is kept in the log."""

    def __init__(
        self, chain: Callable[[int], list[str]], cgroup: JobCgroup, limits: SandboxLimits, pass_fds: list[int]
    ):
        self._cgroup = cgroup
        self._lock = threading.Lock()
        self._outcome: SandboxOutcome | None = None
        self._wall_timeout = False
        self._log = CappedLog(limits.log_bytes)
        self._proc = self._spawn(chain, pass_fds)
        stdin, stdout, stderr = self._proc.stdin, self._proc.stdout, self._proc.stderr
        assert stdin is not None and stdout is not None and stderr is not None  # Popen made all three pipes
        self.stdin: IO[bytes] = stdin
        self.stdout: IO[bytes] = stdout
        self._stderr: IO[bytes] = stderr
        self._drain = threading.Thread(target=self._log.drain, args=(self._stderr,), daemon=True)
        self._drain.start()
        self._runner_stderr: IO[bytes] | None = None  # a joined runner's (adopt)
        self._runner_drain: threading.Thread | None = None
        self._timer = threading.Timer(limits.wall_time_s, self._on_wall_timeout)
        self._timer.daemon = True
        self._wait_joined()
        self._timer.start()

    def adopt(self, zygote: str, env: dict[str, str], limits: dict[str, tuple[int, int]]) -> None:
        """Once pid 1 (``--adopt``) says the sandbox is up, join a runner forked from the template at
        ``zygote`` to it; from then on ``stdin``/``stdout`` are that runner's, its stderr goes to the log."""
        ready, _, _ = select.select([self.stdout], [], [], ADOPT_TIMEOUT_S)
        if not ready or os.read(self.stdout.fileno(), 1) != b"R":
            log = self.kill().log.decode(errors="replace")
            raise SandboxError(f"the sandbox did not come up to adopt a runner: {log}")
        stdin, stdout, stderr = join_runner(
            zygote, sandbox_pid1(self._cgroup.pids()), env, limits, self._cgroup.procs_files
        )
        for pipe in (self.stdin, self.stdout):
            pipe.close()
        self.stdin, self.stdout = os.fdopen(stdin, "wb"), os.fdopen(stdout, "rb")
        self._runner_stderr = os.fdopen(stderr, "rb")
        self._runner_drain = threading.Thread(target=self._log.drain, args=(self._runner_stderr,), daemon=True)
        self._runner_drain.start()

    def _spawn(self, chain: Callable[[int], list[str]], pass_fds: list[int]) -> subprocess.Popen[bytes]:
        """Popen from a thread that lives as long as the job.

        --die-with-parent is PR_SET_PDEATHSIG, which fires when the *thread* that forked bwrap
        exits: forking from a caller's short-lived thread would kill the job with it. This thread
        forks, then reaps; it ends only once the sandbox has.
        """
        started = threading.Event()
        box: dict[str, Any] = {}
        self._ready, ready_w = os.pipe()  # the reaper writes a byte once in the cgroups

        def run() -> None:
            try:
                box["proc"] = subprocess.Popen(
                    chain(ready_w),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env={},
                    cwd="/",
                    pass_fds=[*pass_fds, ready_w],
                    start_new_session=True,  # no signal to our process group reaches the job
                )
            except BaseException as e:  # handed to the caller's thread
                box["error"] = e
            os.close(ready_w)  # the reaper's copy alone is left: its death reads as EOF
            started.set()
            if "proc" in box:
                box["proc"].wait()

        self._spawner = threading.Thread(target=run, name="bwrap-spawner", daemon=True)
        self._spawner.start()
        started.wait()
        if "error" in box:
            os.close(self._ready)
            raise SandboxError(f"cannot start the sandbox: {box['error']}") from box["error"]
        return box["proc"]

    def _wait_joined(self) -> None:
        """Return once the launcher is in every job cgroup: from then on, the cgroups hold the
        whole job, so a kill can never miss a process forked before the join."""
        try:
            joined = os.read(self._ready, 1) == b"1"  # EOF instead: the reaper died first
        finally:
            os.close(self._ready)
        if not joined:
            log = self.kill().log.decode(errors="replace")
            raise SandboxError(f"cannot start the sandbox: {log}")

    def poll(self) -> int | None:
        return _exit_code(self._proc.poll())

    def wait(self, timeout: float | None = None) -> int | None:
        # The spawner thread reaps the launcher and then ends: joining it wakes us the moment the
        # sandbox is over (Popen.wait with a timeout, beside that thread's wait, slept in steps of up to 50 ms).
        self._spawner.join(timeout)
        return None if self._spawner.is_alive() else _exit_code(self._proc.returncode)

    def restart_clock(self, wall_time_s: float) -> None:
        with self._lock:
            if self._outcome is not None or self._wall_timeout:
                return  # over already: kill() reports it
            self._timer.cancel()
            self._timer = threading.Timer(wall_time_s, self._on_wall_timeout)
            self._timer.daemon = True
            self._timer.start()

    def _on_wall_timeout(self) -> None:
        with self._lock:  # never while kill() is removing the cgroup
            if self._outcome is None and self._proc.poll() is None:
                self._wall_timeout = True
                self._terminate()

    def _terminate(self) -> None:
        if self._proc.poll() is not None and not self._cgroup.pids():
            return  # the reaper exits last: the job is over
        # Everything but the reaper, which then reaps them all and exits.
        self._cgroup.kill(spare=self._proc.pid)
        if self.wait(timeout=2) is None:
            self._proc.kill()
            self._cgroup.kill()

    def kill(self) -> SandboxOutcome:
        with self._lock:
            if self._outcome is not None:
                return self._outcome
            self._timer.cancel()
            try:
                self._terminate()
                self._proc.wait()
                self._drain.join(timeout=5)  # every writer is dead: EOF comes at once
                if self._runner_drain is not None:
                    self._runner_drain.join(timeout=5)
                outcome = SandboxOutcome(
                    exit_code=_exit_code(self._proc.returncode),
                    oom_killed=self._cgroup.oom_killed(),
                    pids_limit_hit=self._cgroup.pids_limit_hit(),
                    wall_timeout=self._wall_timeout,
                    log=self._log.value(),
                )
                self._cgroup.remove()
            except (OSError, SandboxError) as e:
                try:  # one more pass, so a failed clean-up leaves no cgroup behind where it can
                    self._cgroup.kill()
                    self._cgroup.remove()
                except (OSError, SandboxError):
                    pass
                raise SandboxError(f"cannot clean up the sandbox: {e}") from e
            finally:
                for pipe in (self.stdin, self.stdout, self._stderr, self._runner_stderr):
                    if pipe is None:
                        continue
                    try:
                        pipe.close()
                    except OSError:
                        pass  # stdin: a broken pipe on the final flush
            self._outcome = outcome
            return outcome


def _exit_code(code: int | None) -> int | None:
    """The reaper reports the program's exit code, or 128+N for signal N (as bwrap does); the
    same convention when the reaper itself was killed."""
    return code if code is None or code >= 0 else 128 - code
