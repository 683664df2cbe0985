"""The student's kernel: a real ipykernel driven by nbclient, with timeouts that always come back.

Every way of running code here ends in one of: ``ok``, ``error`` (the student's code raised),
``timeout`` (interrupted; restarted if the interrupt did not take), ``crashed`` (the kernel died;
restarted). A restart replays the definitions collected so far, within a bounded budget of
restarts; once that is spent the kernel is ``unavailable`` and every later call is ``crashed``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any, Literal, cast

import nbformat
import zmq
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from .forked_kernel import first_launch

KERNEL_NAME = "grader"
TIMEOUT_ENAME = "GraderCellTimeout"
SEND_TIMEOUT_MS = 5000  # a healthy kernel takes a request at once
_TRUNCATED = "\n[grader: output truncated: over the per-cell limit]\n"


# ipykernel's launcher, without its debugger: importing debugpy was half the kernel's start-up CPU
# (about 0.3 s a job), and nothing in grading debugs; a debug_request gets ipykernel's "not available".
KERNEL_LAUNCHER = (
    "import sys; sys.modules['debugpy'] = None; from ipykernel import kernelapp; kernelapp.launch_new_instance()"
)


def write_kernelspec(kernels_dir: Path) -> None:
    """A kernel that is this interpreter, isolated: no cwd, user site or PYTHON* env on sys.path.

    The prelude puts the work dir back on sys.path where the mode allows student modules.
    """
    spec_dir = kernels_dir / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-I", "-c", KERNEL_LAUNCHER, "-f", "{connection_file}"],
        "display_name": "grader",
        "language": "python",
        "interrupt_mode": "signal",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))


def _text_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(len(str(k)) + _text_size(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(_text_size(v) for v in value)
    return 8


class CappedClient(NotebookClient):
    """nbclient that stops keeping a cell's outputs once they pass ``output_budget`` bytes."""

    output_budget: int | None = None
    truncated = False

    def output(  # nbclient hook
        self, outs: list[nbformat.NotebookNode], msg: dict[str, Any], display_id: str | None, cell_index: int
    ) -> nbformat.NotebookNode | None:
        if self.output_budget is not None and msg["msg_type"] in {"stream", "display_data", "execute_result", "error"}:
            size = _text_size(msg["content"])
            if self.truncated or size > self.output_budget:
                if not self.truncated:
                    self.truncated = True
                    outs.append(nbformat.v4.new_output("stream", name="stderr", text=_TRUNCATED))
                return None
            self.output_budget -= size
        return super().output(outs, msg, display_id, cell_index)


# What a download or other network call raises where there is no network (no DNS, no route).
_OFFLINE = re.compile(
    r"Name or service not known|Temporary failure in name resolution|No address associated with hostname"
    r"|Network is unreachable|nodename nor servname|getaddrinfo failed|Failed to establish a new connection"
)


def cell_error(ename: str, evalue: str) -> str:
    """A cell's error line for the execution report; a network failure says why it failed here."""
    error = f"{ename}: {evalue}"
    if _OFFLINE.search(evalue) or (ename in ("gaierror", "URLError") and "Errno" in evalue):
        error += " (no network in the sandbox: downloads cannot run during grading)"
    return error


@dataclass
class Outcome:
    status: str  # ok | error | timeout | crashed
    error: str | None = None  # "Name: message" for error
    restarted: bool = False
    outputs: list[nbformat.NotebookNode] = field(default_factory=list)
    ename: str | None = None
    evalue: str | None = None


class KernelSession:
    def __init__(
        self,
        *,
        work_dir: Path,
        kernels_dir: Path,
        prelude: str,
        restarts: int = 0,
        interrupt_grace_s: float = 5,
        cell_timeout_s: float = 60,
        replay_timeout_s: float = 60,
        restart_timeout_s: float = 60,
        log: Callable[..., None] | None = None,
    ):
        self.work_dir = work_dir
        self.kernels_dir = kernels_dir
        # Compiled in a dict of its own: nothing of it lands in the student's globals.
        self.prelude = (
            f"__import__('builtins').exec(__import__('builtins').compile({prelude!r}, '<grader-prelude>', "
            "'exec'), {'__name__': '__grader_prelude__'})"
        )
        self.restarts_allowed = restarts
        self.restarts = 0
        self.interrupt_grace_s = interrupt_grace_s
        self.cell_timeout_s = cell_timeout_s
        self.replay_timeout_s = replay_timeout_s
        self.restart_timeout_s = restart_timeout_s  # for the new kernel to answer, and again for its prelude
        self.definitions: list[str] = []  # replayed after a restart
        self.available = False
        self.log: Callable[..., None] = log or (lambda *a: print(*a, file=sys.stderr, flush=True))
        self.client: CappedClient | None = None

    def configure(
        self,
        *,
        restarts: int,
        interrupt_grace_s: float,
        cell_timeout_s: float,
        replay_timeout_s: float,
        restart_timeout_s: float,
    ) -> None:
        """The job's limits, for a kernel started before its job was known (a warm unit)."""
        self.restarts_allowed = restarts
        self.interrupt_grace_s = interrupt_grace_s
        self.cell_timeout_s = cell_timeout_s
        self.replay_timeout_s = replay_timeout_s
        self.restart_timeout_s = restart_timeout_s

    # --- life cycle ------------------------------------------------------------------------------

    async def begin(self, env: dict[str, str], timeout_s: float) -> None:
        """The job's environment into this kernel (and any restarted one), then the prelude: the
        kernel of a warm unit was started before its job, and so without either."""
        self.km.update_env(env=env)
        code = f"__import__('os').environ.update({env!r})\n{self.prelude}"
        outcome = await self.run_silent(code, timeout=timeout_s, recover=False)
        if outcome.status != "ok":
            raise RuntimeError(f"the prelude failed in the kernel: {outcome.status} {outcome.error or ''}")

    async def start(self, startup_timeout_s: float = 120, *, prelude: bool = True) -> None:
        # Unix sockets in our private dir, not TCP ports: no loopback needed, nothing listening on the network.
        km = AsyncKernelManager(
            kernel_name=KERNEL_NAME,
            transport="ipc",
            ip=str(self.kernels_dir / "kernel"),
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(self.kernels_dir)]),
        )
        scratch = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")])
        self.client = CappedClient(
            scratch,
            km=km,
            kernel_name=KERNEL_NAME,
            allow_errors=True,
            interrupt_on_timeout=True,
            error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "cell timed out", "traceback": []},
            startup_timeout=int(startup_timeout_s),
            iopub_timeout=4,
            record_timing=False,
            resources={"metadata": {"path": str(self.work_dir)}},
            store_widget_state=False,
        )
        # stdin /dev/null: jupyter_client would otherwise hand the kernel a pipe of ours.
        with first_launch():  # a runner forked from the template forks its first kernel too (forked_kernel.py)
            await self.client.async_start_new_kernel(cwd=str(self.work_dir), stdin=subprocess.DEVNULL)
        await self.client.async_start_new_kernel_client()
        self._bound_sends()
        self.available = True
        if not prelude:
            return
        outcome = await self.run_silent(self.prelude, timeout=startup_timeout_s, recover=False)
        if outcome.status != "ok":
            raise RuntimeError(f"the prelude failed in the kernel: {outcome.status} {outcome.error or ''}")

    def abandon(self) -> None:
        """The job is over: SIGKILL the kernel's process group and return at once. Waiting for it
        (jupyter_client polls every 0.1 s) bought nothing: the sandbox ends when the runner does."""
        pgid = getattr(self.km.provisioner, "pgid", None) if self.client and self.client.km else None
        if pgid:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass  # gone already
        self.available = False

    async def shutdown(self) -> None:
        if self.client and self.client.km:
            try:
                await self.km.shutdown_kernel(now=True)
            except Exception:
                pass
            if self.client.kc:
                self.client.kc.stop_channels()
        self.available = False

    def _bound_sends(self) -> None:
        """A send to a kernel whose sockets the student wrote garbage into blocks forever (the client's
        send is synchronous); bound it, so a wedged kernel is seen as dead and restarted."""
        for channel in (self.kc.shell_channel, self.kc.control_channel):
            channel.socket.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)

    @property
    def _started(self) -> CappedClient:
        if self.client is None:
            raise RuntimeError("the kernel session has not started")
        return self.client

    @property
    def km(self) -> AsyncKernelManager:
        # start() gives nbclient an AsyncKernelManager; nbclient types the attribute as the base class.
        return cast(AsyncKernelManager, self._started.km)

    @property
    def kc(self) -> AsyncKernelClient:
        # An AsyncKernelManager's client() is an AsyncKernelClient; nbclient types it as the base class.
        return cast(AsyncKernelClient, self._started.kc)

    async def _alive(self) -> bool:
        try:
            return bool(await self.km.is_alive())
        except Exception:
            return False

    # --- notebook cells through nbclient (outputs kept, capped) ------------------------------------

    async def execute_cell(self, source: str, timeout: float, output_budget: int) -> Outcome:
        if not self.available:
            return Outcome("crashed", error="kernel unavailable")
        client = self._started
        cell = nbformat.v4.new_code_cell(source)
        client.nb.cells[0] = cell
        client.output_budget = output_budget
        client.truncated = False
        client.timeout_func = lambda _cell: timeout  # type: ignore[assignment]  # nbclient says int; floats work
        replies: list[dict[str, Any]] = []
        client.on_cell_executed = lambda execute_reply, **_: replies.append(execute_reply or {})
        try:
            # nbclient interrupts on its own timeout and returns; this bound is only a backstop.
            await asyncio.wait_for(
                client.async_execute_cell(cell, 0, store_history=True), timeout + client.iopub_timeout + 30
            )
        except DeadKernelError:
            restarted = await self.restart()
            return Outcome("crashed", error="the kernel died", restarted=restarted, outputs=cell.outputs)
        except TimeoutError:
            restarted = await self.restart()
            return Outcome("timeout", error=f"timed out after {timeout:g}s", restarted=restarted, outputs=cell.outputs)
        except Exception as e:  # garbage from the kernel's sockets (student code can write to them)
            self.log(f"kernel channel broken: {type(e).__name__}: {e}")
            restarted = await self.restart()
            return Outcome("crashed", error="the kernel's channel broke", restarted=restarted, outputs=cell.outputs)
        content = (replies[-1] if replies else {}).get("content", {})
        if content.get("ename") == TIMEOUT_ENAME:
            restarted = False
            if not await self._responsive():  # the interrupt did not take
                restarted = await self.restart()
            return Outcome("timeout", error=f"timed out after {timeout:g}s", restarted=restarted, outputs=cell.outputs)
        if content.get("status") == "error":
            ename, evalue = str(content.get("ename", "Error")), str(content.get("evalue", ""))
            return Outcome("error", error=cell_error(ename, evalue), outputs=cell.outputs, ename=ename, evalue=evalue)
        return Outcome("ok", outputs=cell.outputs)

    # --- code of the grader's own (prelude, replay, test snippets): silent, outputs dropped --------

    async def _drain_iopub(self) -> None:
        # Student prints during silent runs are not kept; don't let them pile up in memory.
        for _ in range(10000):
            try:
                await self.kc.get_iopub_msg(timeout=0)
            except Empty:
                return

    async def _wait_reply(self, msg_id: str, timeout: float) -> dict[str, Any] | Literal["timeout", "dead"]:
        """The execute_reply content, or ``"timeout"`` / ``"dead"``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            try:
                msg = await self.kc.get_shell_msg(timeout=min(0.25, left))
            except Empty:
                await self._drain_iopub()
                if not await self._alive():
                    return "dead"
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                await self._drain_iopub()
                content: dict[str, Any] = msg["content"]
                return content

    async def run_silent(self, code: str, timeout: float, recover: bool = True) -> Outcome:
        if not self.available:
            return Outcome("crashed", error="kernel unavailable")
        try:
            msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False, stop_on_error=False)
        except zmq.ZMQError:
            return Outcome(
                "crashed", error="the kernel does not take requests", restarted=recover and await self.restart()
            )
        reply = await self._wait_reply(msg_id, timeout)
        if reply == "dead":
            return Outcome("crashed", error="the kernel died", restarted=recover and await self.restart())
        if reply == "timeout":
            await self.km.interrupt_kernel()
            after = await self._wait_reply(msg_id, self.interrupt_grace_s)
            restarted = False
            if isinstance(after, str) and recover:
                restarted = await self.restart()
            elif isinstance(after, str):
                self.available = False
            return Outcome("timeout", error=f"timed out after {timeout:g}s", restarted=restarted)
        if reply.get("status") == "ok":
            return Outcome("ok")
        ename, evalue = str(reply.get("ename", "Error")), str(reply.get("evalue", ""))
        return Outcome("error", error=cell_error(ename, evalue), ename=ename, evalue=evalue)

    async def _responsive(self) -> bool:
        """After an interrupt: does the kernel answer again within the grace period?"""
        if not await self._alive():
            return False
        try:
            msg_id = self.kc.execute("pass", silent=True, store_history=False, allow_stdin=False)
        except zmq.ZMQError:
            return False
        reply = await self._wait_reply(msg_id, self.interrupt_grace_s)
        return isinstance(reply, dict)

    # --- restart ---------------------------------------------------------------------------------

    async def restart(self) -> bool:
        """Restart and replay the definitions. False (and the kernel unavailable) once the budget is spent."""
        if self.restarts >= self.restarts_allowed:
            self.log(f"restart budget ({self.restarts_allowed}) spent; kernel unavailable")
            self.available = False
            try:
                await self.km.shutdown_kernel(now=True)
            except Exception:
                pass
            return False
        self.restarts += 1
        self.log(f"restarting the kernel ({self.restarts}/{self.restarts_allowed})")
        try:
            # Fresh client sockets too: the old ones may hold the student's garbage. The old ones are
            # closed, not stopped: stopping joins a heartbeat thread a wedged socket can block forever.
            for channel in (
                self.kc.shell_channel,
                self.kc.iopub_channel,
                self.kc.stdin_channel,
                self.kc.control_channel,
            ):
                channel.close()
            await self.km.restart_kernel(now=True)
            await self._started.async_start_new_kernel_client()
            self._bound_sends()
        except Exception as e:
            self.log(f"restart failed: {e}")
            self.available = False
            return False
        self.available = True
        prelude = await self.run_silent(self.prelude, timeout=self.restart_timeout_s, recover=False)
        if prelude.status != "ok":
            self.log(f"prelude failed after restart: {prelude.error}")
        deadline = time.monotonic() + self.replay_timeout_s
        for source in list(self.definitions):
            left = min(self.cell_timeout_s, deadline - time.monotonic())
            if left <= 0:
                self.log("replay stopped: out of time")
                break
            outcome = await self.run_silent(source, timeout=left, recover=False)
            if outcome.status == "timeout" and not self.available:
                self.log("replay stopped: the kernel does not answer")
                break
        return self.available
