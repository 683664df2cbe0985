"""``grader up``: migrate, load the courseworks, make the demo accounts, start a worker and the API,
print how to use them, and stop both on Ctrl-C or SIGTERM.

The children are ``grader worker`` and ``grader serve``: they read the same settings from the
environment as this process does, with the secret it keeps (``secret.py``) when none is configured.
Their output goes to ``settings.log_dir``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from types import FrameType
from typing import Any

from sqlalchemy.engine import make_url

from grader.courseworks.sync import load_all, sync_courseworks
from grader.db.engine import make_engine, session_factory
from grader.db.migrate import upgrade
from grader.embedded.banner import GpuUse, Sample, service_banner
from grader.embedded.demo import DemoAccount, DemoConflict, ensure_demo_accounts
from grader.embedded.processes import (
    Child,
    PortTaken,
    become_subreaper,
    check_port_free,
    start_child,
    stop_children,
)
from grader.embedded.secret import SecretFileError, with_secret
from grader.rubrics.loader import CourseworkFiles
from grader.settings import Settings

API_STOP_S = 10  # uvicorn finishes the requests in flight
HEALTH_PATH = "/api/v1/health"


class StartError(Exception):
    """The service could not start; the message says why. Nothing is left running."""


# What ``signal.signal`` takes and returns: a handler, SIG_DFL or SIG_IGN, or None (not set from Python).
_Handler = Callable[[int, FrameType | None], Any] | int | None


class _Stop:
    """SIGINT, SIGTERM and SIGHUP ask us to stop; a second one means at once."""

    def __init__(self) -> None:
        self.count = 0
        self.event = threading.Event()
        self._previous: dict[int, _Handler] = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.count += 1
        self.event.set()

    @property
    def requested(self) -> bool:
        return self.count > 0

    @property
    def forced(self) -> bool:
        return self.count > 1


def prepare_gradebook(settings: Settings, *, demo: bool) -> tuple[dict[str, CourseworkFiles], list[DemoAccount]]:
    """Migrate, bring the courseworks table in step with the rubrics, make the demo accounts."""
    upgrade(settings.database_url, secret_key=settings.secret_key)
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            courseworks = load_all(settings)
            sync_courseworks(session=session, courseworks=courseworks)
            try:
                accounts = ensure_demo_accounts(session=session) if demo else []
            except DemoConflict as exc:
                raise StartError(str(exc)) from None
    finally:
        engine.dispose()
    return courseworks, accounts


def service_url(host: str, port: int) -> str:
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def run_service(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    demo: bool = True,
    stop_timeout_s: float = 30,
    ready_timeout_s: float = 180,
    out: Callable[[str], None] = lambda s: print(s, flush=True),
) -> int:
    """Run until asked to stop. 0 after a requested stop, 1 when a child died on its own."""
    host, port = host or settings.host, port or settings.port
    try:
        check_port_free(host, port)
        settings = with_secret(settings)
    except (PortTaken, SecretFileError) as exc:
        raise StartError(str(exc)) from None
    assert settings.secret_key is not None  # with_secret has set one
    _sandbox_self_test(settings)  # before anything is made: a service that cannot grade takes no submission
    env = {**os.environ, "GRADER_SECRET_KEY": settings.secret_key}  # the children read their settings from it
    courseworks, accounts = prepare_gradebook(settings, demo=demo)
    gpu, pin = _gpu_use(settings, courseworks)
    if gpu.device is None and settings.fallback_after_s is None:
        # No GPU here: a run of a coursework that asks for one falls back to the CPU worker at once
        # (where its rubric names a fallback queue) instead of waiting for a GPU worker that never comes.
        env["GRADER_FALLBACK_AFTER_S"] = "0"
    become_subreaper()
    stop = _Stop()
    stop.install()
    url = service_url(host, port)
    logs = {"worker": settings.log_dir / "worker.log", "api": settings.log_dir / "api.log"}
    if pin is not None:
        logs["gpu-worker"] = settings.log_dir / "gpu-worker.log"
    python = [sys.executable, "-m", "grader.cli"]
    children: list[Child] = []
    code = 0
    try:
        children.append(start_child("worker", [*python, "worker"], logs["worker"], env=env))
        if pin is not None:  # one job at a time on the GPU; the first worker sweeps for both
            argv = [*python, "worker", "--gpu-device", pin, "--no-sweep"]
            children.append(start_child("gpu-worker", argv, logs["gpu-worker"], env=env))
        children.append(
            start_child("api", [*python, "serve", "--host", host, "--port", str(port)], logs["api"], env=env)
        )
        if not _wait_healthy(url, children, stop, ready_timeout_s):
            if stop.requested:
                return 0
            raise StartError(
                f"the API did not answer {url}{HEALTH_PATH} within {ready_timeout_s:g}s" + _tails(children)
            )
        out(
            service_banner(
                url=url,
                database=make_url(settings.database_url).render_as_string(hide_password=True),
                courseworks=sorted(courseworks),
                logs=list(logs.values()),
                accounts=accounts,
                sample=_sample(courseworks),
                gpu=gpu,
            )
        )
        while not stop.requested:
            dead = [c for c in children if not c.alive()]
            if dead:
                out(
                    f"the {dead[0].name} stopped on its own (exit {dead[0].proc.returncode}); stopping the service."
                    + _tails(dead)
                )
                code = 1
                break
            stop.event.wait(0.5)
    finally:
        if any(c.name.endswith("worker") and c.alive() for c in children):
            out(
                f"stopping: the worker finishes the job in hand (at most {stop_timeout_s:g}s; "
                "Ctrl-C again stops it at once)"
            )
        timeouts = {"api": API_STOP_S, "worker": stop_timeout_s, "gpu-worker": stop_timeout_s}
        killed = stop_children(children, timeouts, force=lambda: stop.forced)
        stop.restore()
        if "worker" in killed or "gpu-worker" in killed:
            out("the worker was stopped in the middle of a job: its run is graded again after the next start.")
        if children:
            out("stopped.")
    return code


def _gpu_use(settings: Settings, courseworks: dict[str, CourseworkFiles]) -> tuple[GpuUse, str | None]:
    """The courseworks that ask for a GPU, and the device a gpu worker of ours is pinned to (the
    configured one, else the first GPU, or its first MIG slice); None when there is no GPU here."""
    from workers.sandbox.gpu import GpuError, gpu_here, list_gpus

    wanting: dict[str, str | None] = {
        code: files.rubric.resources.fallback_queue
        for code, files in courseworks.items()
        if files.rubric.resources.queue == "gpu"
    }
    if not gpu_here():
        return GpuUse(None, wanting), None
    try:
        first = list_gpus()[0]
    except (GpuError, IndexError):
        return GpuUse(None, wanting), None
    pin = settings.gpu_device or (first.migs[0] if first.migs else first.uuid)
    shown = f"GPU {first.index} ({pin})" if not settings.gpu_device else f"GPU {pin}"
    return GpuUse(shown, wanting), (pin if wanting else None)


def _sandbox_self_test(settings: Settings) -> None:
    """The worker's start-up self-test (``workers.selftest``), here first, so that ``grader up``
    stops with its cause and fix instead of printing a banner for a service that cannot grade."""
    from workers.selftest import SelfTestFailed, self_test

    if not settings.worker_self_test:
        return
    try:
        self_test(settings)
    except SelfTestFailed as exc:
        raise StartError(exc.message) from None


def _wait_healthy(url: str, children: list[Child], stop: _Stop, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop.requested:
        dead = [c for c in children if not c.alive()]
        if dead:
            raise StartError(f"the {dead[0].name} exited with {dead[0].proc.returncode} while starting" + _tails(dead))
        try:
            with urllib.request.urlopen(url + HEALTH_PATH, timeout=2) as reply:
                if reply.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass  # not listening yet, or degraded (503): ask again
        stop.event.wait(0.3)
    return False


def _sample(courseworks: dict[str, CourseworkFiles]) -> Sample | None:
    for code, files in sorted(courseworks.items()):
        if files.solution.is_file():
            return Sample(code, files.solution)
    return None


def _tails(children: list[Child]) -> str:
    return "".join(f"\n--- {c.log} (end)\n{c.log_tail().rstrip()}" for c in children)
