"""Running `grader up` as a real subprocess: SQLite, the filesystem broker, a real worker grading CW1.

Everything the service writes (gradebook, blobs, broker, logs) lives under the test's tmp_path;
job folders under a fresh /var/tmp folder, since the sandbox uid must traverse to them (pytest's
tmp dirs are private). Every process started carries a marker in its environment: whatever still
carries it at the end is killed, so nothing outlives a test even when an assertion fails.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from grader.settings import REPO_ROOT

GRADER = str(Path(sys.executable).parent / "grader")
BANNER_END = "Ctrl-C stops the service"
ACCOUNT = re.compile(r"^  (\S+)\s+(grd_\S+)\s+(.+) \((\w+)(?:, roster (\S+))?\)$")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Account:
    username: str
    token: str
    name: str
    role: str
    external_id: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Running:
    """One `grader up` process and what it printed."""

    proc: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, needle: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(needle in line for line in self.lines):
            assert self.proc.poll() is None or any(needle in line for line in self.lines), (
                f"grader up exited with {self.proc.returncode}:\n{self.output()}"
            )
            assert time.monotonic() < deadline, f"no {needle!r} within {timeout_s}s:\n{self.output()}"
            time.sleep(0.2)

    def accounts(self) -> dict[str, Account]:
        found = {}
        for line in self.lines:
            m = ACCOUNT.match(line)
            if m:
                found[m[1]] = Account(*m.groups())
        return found

    def curls(self) -> list[str]:
        return [line.strip() for line in self.lines if line.startswith("  curl ")]

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []


@dataclass
class Service:
    var: Path
    jobs: Path
    port: int
    marker: str
    started: list[Running] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)  # for every process this Service starts

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
        env.update(
            GRADER_DATABASE_URL=f"sqlite:///{self.var / 'grader.db'}",
            GRADER_BLOB_DIR=str(self.var / "blobs"),
            GRADER_BROKER_DIR=str(self.var / "broker"),
            GRADER_LOG_DIR=str(self.var / "log"),
            GRADER_STATE_DIR=str(self.var / "state"),
            GRADER_JOBS_DIR=str(self.jobs),
            GRADER_RUBRICS_DIR=str(REPO_ROOT / "rubrics"),
            GRADER_HOST="127.0.0.1",
            GRADER_PORT=str(self.port),
            GRADER_TEST_UP_MARK=self.marker,
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        env.update(extra)
        return env

    def start(self, *args: str, ready_timeout_s: float = 300) -> Running:
        proc = subprocess.Popen(
            [GRADER, "up", *args],
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=REPO_ROOT,
            text=True,
        )
        running = Running(proc)
        self.started.append(running)
        threading.Thread(target=_read_lines, args=(proc, running.lines), daemon=True).start()
        running.wait_for_line(BANNER_END, ready_timeout_s)
        return running

    def stop(self, running: Running, timeout_s: float = 120) -> int:
        """SIGTERM, as a service manager stops it; returns its exit code once every process it
        started (judges and sandboxes included) is gone."""
        tree = running.descendants()
        assert tree, "grader up has no children to stop"
        running.proc.send_signal(signal.SIGTERM)
        code = running.proc.wait(timeout=timeout_s)
        survivors = [p for p in tree if _alive(p)]
        assert not survivors, f"left behind: {survivors}\n{running.output()}"
        assert not marked(self.marker), running.output()
        return code

    def cleanup(self) -> None:
        for running in self.started:
            try:
                os.killpg(running.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for p in running.descendants():
                p.kill()
        deadline = time.monotonic() + 15
        while marked(self.marker, kill=True):
            assert time.monotonic() < deadline, "processes of this test survive SIGKILL"
            time.sleep(0.2)


@contextmanager
def service_in(tmp_path: Path, jobs_prefix: str) -> Iterator[Service]:
    """A Service with its own var/ under ``tmp_path``, a free port and a job folder the sandbox uid
    can traverse (/var/tmp: the student's tmpfs is elsewhere); everything it left is removed after."""
    jobs = Path(tempfile.mkdtemp(prefix=jobs_prefix, dir="/var/tmp"))
    os.chmod(jobs, 0o711)
    svc = Service(var=tmp_path / "var", jobs=jobs, port=free_port(), marker=uuid.uuid4().hex)
    try:
        yield svc
    finally:
        svc.cleanup()
        shutil.rmtree(jobs, ignore_errors=True)


def _read_lines(proc: subprocess.Popen, into: list[str]) -> None:
    for line in proc.stdout:
        into.append(line.rstrip("\n"))


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def marked(marker: str, kill: bool = False) -> list[int]:
    """Processes whose environment carries this test's marker (SIGKILLed when ``kill``)."""
    needle = f"GRADER_TEST_UP_MARK={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # a zombie is already dead; its parent reaps it
                found.append(int(entry.name))
                if kill:
                    os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass
    return found


def wait_until(pred: Callable[[], object], timeout_s: float, what: str, diag: Callable[[], str] = str) -> object:
    deadline = time.monotonic() + timeout_s
    while not (value := pred()):
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}\n{diag()}"
        time.sleep(1)
    return value
