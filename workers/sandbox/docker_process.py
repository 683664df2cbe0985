"""One running sandbox container: its stdio pumped between real pipes and the attach socket, its
wall clock and pids limit watched from the host, and its removal, whatever ended it.

The program's stdin/stdout/stderr travel over one attach socket (hijacked HTTP, multiplexed
frames); two pump threads turn it back into real pipes for the caller, and stderr into the capped
log. Kills come from this (host) process: a wall-clock monitor and ``kill()``; ``kill()`` always
removes the container.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from pathlib import Path
from typing import IO, Any

from grader.settings import SandboxLimits

from .base import SandboxError, SandboxOutcome
from .common import CappedLog

MONITOR_INTERVAL_S = 0.1
STREAM_STDOUT, STREAM_STDERR = 1, 2


def pids_events_file(pid: int) -> Path | None:
    """The container's pids.events (cgroup v1 or v2), found from its init process's cgroups."""
    try:
        own = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    v1 = next((ln.split(":", 2)[2] for ln in own if "pids" in ln.split(":", 2)[1].split(",")), None)
    v2 = next((ln[3:] for ln in own if ln.startswith("0::")), None)
    for line in mounts:
        fields, _, tail = line.partition(" - ")
        fstype, _, opts = tail.split(" ")[:3]
        root, mountpoint = fields.split(" ")[3:5]
        path = (
            v1 if fstype == "cgroup" and "pids" in opts.split(",") else v2 if fstype == "cgroup2" and not v1 else None
        )
        if path is not None and root == "/":
            candidate = Path(mountpoint) / path.lstrip("/") / "pids.events"
            if candidate.exists():
                return candidate
    return None


class DockerProcess:
    """One running container. ``stdin``/``stdout`` are pipes pumped to/from its attach socket."""

    def __init__(self, client: Any, container_id: str, name: str, limits: SandboxLimits):
        self._api = client.api
        self.id, self.name = container_id, name
        self._lock = threading.Lock()
        self._outcome: SandboxOutcome | None = None
        self._wall_timeout = False
        self._pids_hit = False
        self._exit_code: int | None = None
        self._exited = threading.Event()
        self._log = CappedLog(limits.log_bytes)
        self._fds: list[int] = []  # the pumps' pipe ends, until the pumps own them
        try:
            raw = self._api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            self._response = getattr(raw, "_response", None)  # keeps the hijacked connection open
            self._sock: socket.socket = getattr(raw, "_sock", raw)
            in_r, in_w = os.pipe()
            self._fds += [in_r, in_w]
            out_r, out_w = os.pipe()
            self._fds += [out_r, out_w]
            self.stdin: IO[bytes] = os.fdopen(in_w, "wb")
            self.stdout: IO[bytes] = os.fdopen(out_r, "rb")
            self._fds = [in_r, out_w]  # the other two are the file objects' now
            self._api.start(container_id)
            pid = self._api.inspect_container(container_id)["State"]["Pid"]
        except BaseException as e:  # the container goes whatever stopped us (KeyboardInterrupt included)
            self._cleanup_after_failed_start()
            if isinstance(e, Exception):
                raise SandboxError(f"cannot start the sandbox container: {e}") from e
            raise
        self._fds = []
        self._pids_events = pids_events_file(pid) if pid else None
        self._deadline = time.monotonic() + limits.wall_time_s
        self._threads = [
            threading.Thread(target=self._pump_in, args=(in_r,), name="docker-stdin", daemon=True),
            threading.Thread(target=self._pump_out, args=(out_w,), name="docker-stdout", daemon=True),
            threading.Thread(target=self._wait_exit, name="docker-wait", daemon=True),
            threading.Thread(target=self._monitor, name="docker-monitor", daemon=True),
        ]
        for t in self._threads:
            t.start()

    # --- pumps -----------------------------------------------------------------------------------

    def _pump_in(self, fd: int) -> None:
        """Caller's stdin pipe -> the socket; its EOF half-closes the socket (the program's stdin EOF)."""
        try:
            while chunk := os.read(fd, 65536):
                self._sock.sendall(chunk)
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the container is gone; the caller's writes now fail with EPIPE
        finally:
            os.close(fd)

    def _pump_out(self, fd: int) -> None:
        """The socket's frames -> stdout pipe / capped log. A caller that stopped reading only loses stdout."""
        stdout_open = True
        buf = bytearray()
        try:
            while True:
                while len(buf) < 8 or len(buf) < 8 + struct.unpack(">I", buf[4:8])[0]:
                    chunk = self._sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                size = struct.unpack(">I", buf[4:8])[0]
                stream, payload = buf[0], bytes(buf[8 : 8 + size])
                del buf[: 8 + size]
                if stream == STREAM_STDERR:
                    self._log.feed(payload)
                elif stream == STREAM_STDOUT and stdout_open:
                    try:
                        _write_all(fd, payload)
                    except OSError:  # BrokenPipeError: the caller closed stdout
                        stdout_open = False
        except OSError:
            pass
        finally:
            os.close(fd)  # the caller reads EOF

    # --- exit, wall clock, pids -------------------------------------------------------------------

    def _wait_exit(self) -> None:
        from docker.errors import DockerException

        try:
            self._exit_code = int(self._api.wait(self.id, timeout=None)["StatusCode"])
        except (DockerException, OSError, ValueError, KeyError):
            pass  # removed meanwhile: kill() reads what is left from the engine
        except Exception:
            pass
        self._exited.set()

    def _monitor(self) -> None:
        while not self._exited.wait(MONITOR_INTERVAL_S):
            self._read_pids_events()
            if time.monotonic() >= self._deadline:
                with self._lock:
                    if self._outcome is None and not self._exited.is_set():
                        self._wall_timeout = True
                        try:
                            self._kill_container()
                        except SandboxError:
                            pass  # kill() tries again, and reports
                return

    def restart_clock(self, wall_time_s: float) -> None:
        with self._lock:
            self._deadline = time.monotonic() + wall_time_s  # the monitor reads it on its next tick

    def _read_pids_events(self) -> None:
        """The cgroup goes with the container; read while it lives (a fork bomb keeps it alive)."""
        if self._pids_events is None or self._pids_hit:
            return
        try:
            for line in self._pids_events.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "max" and int(value) > 0:
                    self._pids_hit = True
        except (OSError, ValueError):
            pass

    def _kill_container(self) -> None:
        from docker.errors import APIError, NotFound

        try:
            self._api.kill(self.id)
        except NotFound:
            pass
        except APIError as e:
            if e.status_code != 409:  # 409: not running any more
                raise SandboxError(f"cannot kill container {self.name}: {e}") from e

    # --- the SandboxProcess interface -------------------------------------------------------------

    def poll(self) -> int | None:
        return self._exit_code if self._exited.is_set() else None

    def wait(self, timeout: float | None = None) -> int | None:
        self._exited.wait(timeout)
        return self.poll()

    def kill(self) -> SandboxOutcome:
        from docker.errors import DockerException

        with self._lock:
            if self._outcome is not None:
                return self._outcome
            try:
                self._read_pids_events()
                if not self._exited.is_set():
                    self._kill_container()
                if not self._exited.wait(30):
                    raise SandboxError(f"container {self.name} did not stop within 30s of SIGKILL")
                state = self._api.inspect_container(self.id)["State"]
                outcome = SandboxOutcome(
                    exit_code=self._exit_code if self._exit_code is not None else state.get("ExitCode"),
                    oom_killed=bool(state.get("OOMKilled")),
                    pids_limit_hit=self._pids_hit,
                    wall_timeout=self._wall_timeout,
                    log=b"",
                )
            except DockerException as e:
                raise SandboxError(f"cannot stop container {self.name}: {e}") from e
            finally:
                self._close_streams()
                self._remove()
            outcome.log = self._log.value()
            self._outcome = outcome
            return outcome

    def _close_streams(self) -> None:
        """Once the container is gone: let stdout and the log drain to the end, then close everything."""
        pump_in, pump_out = self._threads[:2]
        pump_out.join(timeout=3)  # the engine ends the stream after the container's last write
        for how, pump, pipe in ((socket.SHUT_RDWR, pump_out, self.stdout), (None, pump_in, self.stdin)):
            if how is not None:
                _shutdown(self._sock, how)
            if pump.is_alive():  # blocked on the caller's pipe: closing our end releases it
                _close(pipe)
            pump.join(timeout=3)
        _close(self.stdin)
        _close(self.stdout)
        self._sock.close()
        if self._response is not None:
            self._response.close()

    def _remove(self) -> None:
        from docker.errors import APIError, NotFound

        deadline = time.monotonic() + 30
        while True:
            try:
                self._api.remove_container(self.id, force=True)
                return
            except NotFound:
                return
            except APIError as e:  # 409 "removal already in progress": wait for it
                if e.status_code != 409 or time.monotonic() > deadline:
                    raise SandboxError(f"cannot remove container {self.name}: {e}") from e
                time.sleep(0.1)

    def _cleanup_after_failed_start(self) -> None:
        for f in (getattr(self, "stdin", None), getattr(self, "stdout", None)):
            if f is not None:
                f.close()
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        if hasattr(self, "_sock"):
            self._sock.close()
        self._remove()


def _shutdown(sock: socket.socket, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass


def _close(f: IO[bytes]) -> None:
    try:
        f.close()
    except OSError:
        pass  # stdin: a broken pipe on the final flush


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
