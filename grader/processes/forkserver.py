"""A fork server: a template process imports a program once, then forks a run of it per request.

A Python program started cold spends most of a CPU-second importing what it needs (the judge:
pytest, numpy, pydantic, nbformat and the grader; the upload check: pydantic, nbformat and the
rubric model) before it does anything. The template
(``python -m grader.processes.forkserver FD MODULE:FUNCTION``) imports MODULE once (and calls its
``preload()``, if it has one); each run is then a fork of it, a few milliseconds, that calls
``FUNCTION(argv)`` and exits with what it returns. Only for trusted code: the template runs no
request itself, so every run starts from the same clean state, whatever the runs before it did.
Student code never runs in a fork: the judge still starts a fresh sandbox for every job.

The conversation runs over a SOCK_SEQPACKET socket pair (one JSON message each way per datagram):

    client -> {"argv": [...], "cwd": ..., "env": {...}} + fds (stdin, stdout, stderr)
    server -> {"spawned": pid} or {"error": ...};  later  server -> {"exited": pid, "code": n}

A run leads a process group of its own (killed whole with it, as a ``start_new_session`` child
is), its stdin, stdout and stderr are the fds sent with the request, its environment is the
client's at the request (not at the template's start), and its random generators are reseeded.
When the client's end closes (its process exited), the server kills the runs it forked and exits.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import IO, Any

MAX_MESSAGE = 256 * 1024  # a request carries the client's environment
SPAWN_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 120.0
POLL_S = 0.05  # how often a run whose server died is checked for


class ForkServerError(RuntimeError):
    """The fork server is not there (did not start, or died): start the program the cold way."""


# ---------------------------------------------------------------- the server (the template process)


def serve(sock_fd: int, target: str) -> int:
    """The template's loop: fork a run per request, report each one's exit, until the client leaves."""
    module_name, _, function_name = target.partition(":")
    module = importlib.import_module(module_name)  # what every run needs, imported once here
    function: Callable[[list[str]], int] = getattr(module, function_name)
    preload = getattr(module, "preload", None)
    if callable(preload):
        preload()
    sock = socket.socket(fileno=sock_fd)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that the wake-up fd is written
    children: set[int] = set()
    sys.stdout.flush()
    sys.stderr.flush()
    gc.collect()
    gc.freeze()  # the template's objects stay shared pages in every fork (no gc writes to them)
    _send(sock, {"ready": True})
    try:
        while True:
            readable, _, _ = select.select([sock.fileno(), wake_r], [], [])
            if wake_r in readable:
                while _drain(wake_r):
                    pass
            _reap(sock, children)
            if sock.fileno() in readable:
                try:
                    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 3)
                except OSError:
                    data, fds = b"", []
                if not data:
                    return 0  # the client is gone (finally: its runs die with it)
                pid = _spawn(function, data, fds, sock, (wake_r, wake_w))
                for fd in fds:
                    os.close(fd)
                _send(sock, {"spawned": pid} if pid > 0 else {"error": "bad request"})
                if pid > 0:
                    children.add(pid)
    finally:
        for pid in children:
            _killpg(pid)


def _spawn(
    function: Callable[[list[str]], int], data: bytes, fds: list[int], sock: socket.socket, wake: tuple[int, int]
) -> int:
    try:
        request = json.loads(data)
        argv = [str(a) for a in request["argv"]]
        cwd = request.get("cwd")
        env = {str(k): str(v) for k, v in request["env"].items()}
        stdin_fd, stdout_fd, stderr_fd = fds
    except (ValueError, KeyError, TypeError):
        return -1
    pid = os.fork()
    if pid:
        # Its own process group before the client hears of it (the child does the same: whichever
        # comes first), so that a kill of the group can never miss it.
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        return pid
    code = 1
    try:  # the run: nothing here returns to the server's loop
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sock.close()
        for fd in wake:
            os.close(fd)
        os.setpgid(0, 0)
        for target_fd, fd in enumerate((stdin_fd, stdout_fd, stderr_fd)):
            os.dup2(fd, target_fd)
        for fd in set(fds):
            if fd > 2:
                os.close(fd)
        if cwd is not None:
            os.chdir(cwd)
        os.environ.clear()  # the client's environment now, as a new process would get it
        os.environ.update(env)
        reseed()
        code = function(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)  # never the server's finally blocks, nor its atexit handlers


def reseed() -> None:
    """A fork shares its parent's random state: every run draws its own (Python's ``random``
    reseeds itself at fork; numpy's global generator, and torch's where imported, do not)."""
    import random

    random.seed()
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.seed()


def _reap(sock: socket.socket, children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        _send(sock, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _drain(fd: int) -> bool:
    try:
        return bool(os.read(fd, 512))
    except BlockingIOError:
        return False


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    try:
        sock.send(json.dumps(message).encode())
    except OSError:
        pass  # the client is gone: the loop sees it next


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# ---------------------------------------------------------------- the client (the worker's side)


class ForkServer:
    """A handle on a fork server of ``target`` ("module:function"): ``spawn(argv)`` starts a run, like ``Popen``."""

    def __init__(self, target: str) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "grader.processes.forkserver", str(theirs.fileno()), target],
                stdin=subprocess.DEVNULL,
                pass_fds=[theirs.fileno()],
                start_new_session=True,
            )
        finally:
            theirs.close()
        self._sock = ours
        self._owner = os.getpid()  # a process forked from this one inherits the handle, not the server
        self._lock = threading.Lock()  # one request at a time: replies come in order
        self._replies: list[dict[str, Any]] = []
        self._exits: dict[int, int] = {}
        self._changed = threading.Condition()
        self._ready = False
        self.dead = False
        self._reader = threading.Thread(target=self._read, name="fork-server", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(MAX_MESSAGE)
            except OSError:
                data = b""
            with self._changed:
                if not data:
                    self.dead = True
                    self._changed.notify_all()
                    return
                try:
                    message = json.loads(data)
                except ValueError:
                    message = {}
                if "exited" in message:
                    self._exits[int(message["exited"])] = int(message["code"])
                elif "ready" in message:
                    self._ready = True
                else:
                    self._replies.append(message)
                self._changed.notify_all()

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> bool:
        with self._changed:
            self._changed.wait_for(lambda: self._ready or self.dead, timeout_s)
            return self._ready and not self.dead

    def spawn(
        self, argv: list[str], *, stdin: bool = False, stderr: bool = False, cwd: str | None = None
    ) -> ForkedProcess:
        """A run of ``FUNCTION(argv)``. Its stdout is a pipe; ``stdin``: a pipe to it (else /dev/null);
        ``stderr``: a pipe of its own (else it goes to stdout)."""
        if not self.wait_ready():
            raise ForkServerError("the fork server did not start")
        ours: list[int] = []  # the ends this process keeps: closed here if the spawn fails
        theirs: list[int] = []  # the ends the run gets: always closed here once sent
        try:
            if stdin:
                in_r, in_w = os.pipe()
                theirs.append(in_r)
                ours.append(in_w)
            else:
                theirs.append(os.open(os.devnull, os.O_RDONLY))
            out_r, out_w = os.pipe()
            theirs.append(out_w)
            ours.append(out_r)
            if stderr:
                err_r, err_w = os.pipe()
                theirs.append(err_w)
                ours.append(err_r)
            else:
                theirs.append(out_w)
            request = json.dumps({"argv": argv, "cwd": cwd, "env": dict(os.environ)}).encode()
            with self._lock:
                try:
                    socket.send_fds(self._sock, [request], theirs)
                except OSError as e:
                    raise ForkServerError(f"the fork server is gone: {e}") from None
                with self._changed:
                    if not self._changed.wait_for(lambda: bool(self._replies) or self.dead, SPAWN_TIMEOUT_S):
                        raise ForkServerError("the fork server did not answer")
                    if not self._replies:
                        raise ForkServerError("the fork server is gone")
                    reply = self._replies.pop(0)
            if "spawned" not in reply:
                raise ForkServerError(f"the fork server refused: {reply.get('error')}")
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        finally:
            for fd in set(theirs):
                os.close(fd)
        return ForkedProcess(
            self,
            int(reply["spawned"]),
            stdin=os.fdopen(in_w, "wb") if stdin else None,
            stdout=os.fdopen(out_r, "rb"),
            stderr=os.fdopen(err_r, "rb") if stderr else None,
        )

    def exit_code(self, pid: int, timeout_s: float | None) -> int | None:
        """The run's exit code once it exited (-1 if its server died meanwhile); None on timeout."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._changed:
            while pid not in self._exits:
                if self.dead:
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._changed.wait(left)
            else:
                return self._exits.pop(pid)
        while _alive(pid):  # orphaned by its server's death: reaped by init, exit code lost
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(POLL_S)
        return -1

    def close(self) -> None:
        """The server kills any run still going and exits. In a process forked from the one that
        started it (its handle copied, an exit handler with it) nothing happens: a shutdown of the
        shared socket there would end the starting process's server."""
        if os.getpid() != self._owner:
            return
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _killpg(self.proc.pid)
            self.proc.wait()


_shared: dict[tuple[int, str], ForkServer] = {}  # by (pid, target): a forked process starts its own
_shared_lock = threading.Lock()


def shared_server(target: str) -> ForkServer:
    """This process's fork server of ``target``, started on first use (and again if it died); closed at exit."""
    with _shared_lock:
        server = _shared.get((os.getpid(), target))
        if server is None or server.dead:
            server = _shared[(os.getpid(), target)] = ForkServer(target)
            atexit.register(server.close)
        return server


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (FileNotFoundError, IndexError):
        return False


class ForkedProcess:
    """A run forked by the server, with the part of ``subprocess.Popen`` its callers use."""

    def __init__(
        self, server: ForkServer, pid: int, *, stdin: IO[bytes] | None, stdout: IO[bytes], stderr: IO[bytes] | None
    ):
        self._server = server
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None
        # Output read so far, kept across a communicate() that timed out (a caller may go on reading).
        self._out = {s.fileno(): bytearray() for s in (stdout, stderr) if s is not None}

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._server.exit_code(self.pid, 0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self._server.exit_code(self.pid, timeout)
            if self.returncode is None:
                raise subprocess.TimeoutExpired([f"forked {self.pid}"], timeout or 0)
        return self.returncode

    def communicate(self, input: bytes | None = None, timeout: float | None = None) -> tuple[bytes, bytes | None]:
        """Send ``input`` (then end of file), read all output, then its exit; ``TimeoutExpired`` if that
        takes longer than ``timeout`` (call again to go on reading)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.stdin is not None and not self.stdin.closed:
            try:
                if input:
                    self.stdin.write(input)  # the programs served read all their input before they write
                self.stdin.close()
            except BrokenPipeError:
                pass
        streams = {s.fileno(): s for s in (self.stdout, self.stderr) if s is not None and not s.closed}
        while streams:
            left = None if deadline is None else deadline - time.monotonic()
            ready = select.select(list(streams), [], [], left)[0] if left is None or left > 0 else []
            if not ready:
                raise subprocess.TimeoutExpired([f"forked {self.pid}"], timeout or 0)
            for fd in ready:
                chunk = os.read(fd, 65536)
                if chunk:
                    self._out[fd] += chunk
                else:
                    streams.pop(fd).close()
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        outputs = list(self._out.values())
        return bytes(outputs[0]), (bytes(outputs[1]) if len(outputs) > 1 else None)

    def kill(self) -> None:
        _killpg(self.pid)


if __name__ == "__main__":
    code = serve(int(sys.argv[1]), sys.argv[2])
    sys.stdout.flush()
    sys.stderr.flush()
    # Gone at once, without the interpreter's tear-down: its client has exited, and whoever waits for
    # that client's process tree (a service manager, `grader up`) should not find the template still there.
    os._exit(code)
