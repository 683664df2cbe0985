"""The first kernel of a runner forked from the template (zygote.py), forked from the runner itself.

The template imported ipykernel, IPython and the pre-imports once; a runner forked from it has
them, so its kernel can be a fork too instead of a new interpreter that imports them again. Only
the first kernel, started before the job's files or any call reached the runner: a restart later in
the job starts a new interpreter as before, so no kernel is ever a copy of a runner that holds the
job's data. The fork becomes what a cold kernel is: a session of its own, stdin /dev/null, the
kernel's environment and cwd, no fd of the runner's, no asyncio loop, fresh random state, none of
the runner's modules, and ``sys.argv`` as the kernelspec's command line gives it.

``jupyter_client`` launches kernels with ``launcher.launch_kernel`` (via its local provisioner);
``first_launch()`` swaps that for ``fork_kernel`` for one launch.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

_armed = False


def arm() -> None:
    """The next kernel this process starts is forked (set in a runner forked from the template)."""
    global _armed
    _armed = True


class ForkedKernel:
    """What jupyter_client needs of a ``Popen`` for a kernel that is our forked child."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -signal.SIGKILL  # reaped elsewhere: gone all the same
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.01)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _reseed() -> None:
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.seed()


def _become_kernel(cmd: list[str], env: dict[str, str], cwd: str | None) -> None:
    import asyncio

    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the protocol pipes, the loop's, zmq's
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop_policy(None)
    os.environ.clear()
    os.environ.update(env)
    if cwd:
        os.chdir(cwd)
    sys.dont_write_bytecode = False  # the kernel's interpreter runs without -B
    for name in [n for n in sys.modules if n == "runner" or n.startswith("runner.")]:
        del sys.modules[name]
    sys.modules["debugpy"] = None  # type: ignore[assignment]  # as the kernelspec's launcher does
    args = cmd[cmd.index("-c") + 2 :]  # the launcher's own arguments: -f CONNECTION_FILE
    sys.argv = ["-c", *args]
    # ipykernel read JPY_PARENT_PID when the template imported it (a class attribute's default).
    args = [*args, f"--IPKernelApp.parent_handle={env['JPY_PARENT_PID']}"]
    _reseed()
    from ipykernel import kernelapp

    kernelapp.launch_new_instance(argv=args)


def fork_kernel(cmd: list[str], *, env: dict[str, str] | None = None, cwd: str | None = None, **_: Any) -> ForkedKernel:
    """``launch_kernel``'s stand-in: fork, and in the child run the kernel of ``cmd`` (the kernelspec's)."""
    env = dict(env or os.environ)
    env["JPY_PARENT_PID"] = str(os.getpid())  # as launch_kernel sets it: the kernel exits with us
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(ready_r)
            os.setsid()  # before the parent reads its process group: interrupts go to the kernel's alone
            os.write(ready_w, b"1")
            os.close(ready_w)
            _become_kernel(cmd, env, cwd)
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(ready_w)
    try:
        os.read(ready_r, 1)
    finally:
        os.close(ready_r)
    return ForkedKernel(pid)


@contextlib.contextmanager
def first_launch() -> Iterator[None]:
    """While inside, jupyter_client's launches fork (once armed, and once only)."""
    global _armed
    if not _armed:
        yield
        return
    _armed = False
    from jupyter_client.provisioning import local_provisioner

    original = local_provisioner.launch_kernel
    local_provisioner.launch_kernel = fork_kernel  # type: ignore[assignment]
    try:
        yield
    finally:
        local_provisioner.launch_kernel = original
