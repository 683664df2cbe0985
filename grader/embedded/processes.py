"""The API and worker processes ``grader up`` starts, watched and stopped together (Linux only).

Each child runs in a session of its own, so a terminal's Ctrl-C reaches only us and we stop the
children in order; each gets SIGTERM should we die first. We are a child subreaper: a grading
job's judge runs in a session of its own and, if its worker is killed, comes back to us instead
of init, so stopping can find and end everything we started.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


class PortTaken(Exception):
    pass


def check_port_free(host: str, port: int) -> None:
    """Raise PortTaken if something listens on host:port (uvicorn would fail after a slow start)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortTaken(
                    f"port {port} on {host} is taken ({exc.strerror}); stop what uses it, or "
                    "choose another port with --port or GRADER_PORT"
                ) from None
            raise


def become_subreaper() -> None:
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log: Path
    log_offset: int  # where this start's output begins in the (appended) log

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            with self.log.open("rb") as fh:
                fh.seek(max(self.log_offset, self.log.stat().st_size - chars))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""


def start_child(name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> Child:
    log.parent.mkdir(parents=True, exist_ok=True)
    parent = os.getpid()

    def die_with_parent() -> None:  # runs in the child between fork and exec
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    with log.open("ab") as out:
        offset = out.tell()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    return Child(name, proc, log, offset)


def stop_children(children: list[Child], timeouts_s: dict[str, float], force: Callable[[], bool]) -> list[str]:
    """SIGTERM each child's main process (uvicorn and Celery then stop gracefully: a worker finishes
    the job in hand); whoever is still running after its timeout, or once ``force()`` is true, is
    killed with everything below us. Returns the names of the children that had to be killed."""
    for child in children:
        if child.alive():
            child.proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    while any(c.alive() and time.monotonic() - started < timeouts_s.get(c.name, 10) for c in children):
        if force():
            break
        time.sleep(0.1)
    killed = [c.name for c in children if c.alive()]
    kill_descendants({c.proc.pid: c.proc for c in children})
    return killed


def kill_descendants(popens: dict[int, subprocess.Popen], timeout_s: float = 30) -> None:
    """SIGKILL every process below this one and reap them (``popens``: children Popen reaps)."""
    deadline = time.monotonic() + timeout_s
    while pids := descendants():
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in pids:
            if pid in popens:
                popens[pid].poll()
                continue
            try:
                os.waitpid(pid, os.WNOHANG)  # an orphan handed to us (we are a subreaper)
            except ChildProcessError:
                pass  # not ours (yet): its own parent reaps it, or it comes to us once that dies
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {pids} survive SIGKILL")
        time.sleep(0.05)
    for proc in popens.values():
        proc.wait()


def descendants(root: int | None = None) -> list[int]:
    """Every process below ``root`` (default: this one), zombies included, from /proc."""
    root = os.getpid() if root is None else root
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue  # gone meanwhile
        # The name (field 2) may hold spaces and parentheses: parse after the last ')'.
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found
