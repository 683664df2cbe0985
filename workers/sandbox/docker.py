"""The Docker backend: the student zone as a locked-down container, started through the Docker SDK.

The image (scripts/build_sandbox_image.sh) is a near-empty root: the host's /usr, the course
runtime, the runner and the submission are bound read-only onto its mount points, so the program
sees the same layout (base.py) and the same libraries as under bubblewrap.

    docker-init (tini, pid 1, root: reaps orphans) -> setpriv (to the sandbox uid, no capabilities)
      -> env -i (exactly spec.env) -> the program

Why root first, not ``user=65534``: runc chowns the container's stdio pipes to the container's
user, and then any process of that uid could reopen the protocol pipes through /proc/<pid>/fd and
forge the runner's replies. With the container's user root the pipes stay root's (mode 0600), as
under bubblewrap; pid 1 keeps only CAP_SETUID/SETGID/SETPCAP, which setpriv uses to drop to the
sandbox uid with an empty bounding set before anything of the job runs.

The program's stdin/stdout/stderr travel over one attach socket (hijacked HTTP, multiplexed
frames); two pump threads turn it back into real pipes for the caller, and stderr into the capped
log. Kills come from this (host) process: a wall-clock monitor and ``kill()``; ``kill()`` always
removes the container. A container whose host process died without ``kill()`` (SIGKILL) is swept
by the next backend started on the host (``reap_orphans``).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

from grader.settings import SandboxLimits, Settings

from .base import RUNNER_MOUNT, RUNTIME_MOUNT, SUBMISSION_MOUNT, WORK_MOUNT, SandboxError, SandboxOutcome, SandboxSpec
from .common import HOSTNAME, CappedLog, check_reachable
from .seccomp import DENIED

MiB = 1024 * 1024
LABEL = "grader.sandbox"  # every container of ours carries it
INIT = "/usr/bin/docker-init"  # docker.io's tini-static, seen through the /usr bind
SETPRIV = "/usr/bin/setpriv"
ENV = "/usr/bin/env"
INIT_CAPS = ["SETUID", "SETGID", "SETPCAP"]  # pid 1's only capabilities: what setpriv needs to drop to the uid
SECCOMP_PROFILE = Path(__file__).with_name("docker_seccomp.json")  # Docker 20.10.24's default (moby, Apache-2.0)
DENIED_SYSCALLS = DENIED  # as under bwrap (seccomp.py): no reaching into another process of the job
MONITOR_INTERVAL_S = 0.1
STREAM_STDOUT, STREAM_STDERR = 1, 2


@lru_cache(maxsize=1)
def seccomp_profile() -> str:
    """Docker's default profile, less the syscalls that reach into another process (it allows ptrace
    on kernels >= 4.8, pidfd_open always, pidfd_getfd with CAP_SYS_PTRACE); whatever is not allowed
    fails with EPERM."""
    profile = json.loads(SECCOMP_PROFILE.read_text())
    rules = []
    for rule in profile["syscalls"]:
        names = [n for n in rule["names"] if n not in DENIED_SYSCALLS or rule["action"] != "SCMP_ACT_ALLOW"]
        if names:
            rules.append({**rule, "names": names})
    return json.dumps({**profile, "syscalls": rules}, separators=(",", ":"))


def _docker_client():
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as e:  # pragma: no cover - a pinned dependency
        raise SandboxError("the docker SDK is not installed (pip install docker)") from e
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as e:
        raise SandboxError(f"the Docker engine does not answer: {e} (scripts/ensure_docker.sh)") from e
    return client


def image_id(settings: Settings) -> str:
    """The id (sha256:...) of the sandbox image the settings name; SandboxError if it is missing."""
    from docker.errors import DockerException, ImageNotFound

    try:
        return _docker_client().images.get(settings.docker_image).id
    except ImageNotFound:
        raise SandboxError(f"no image {settings.docker_image}: run scripts/build_sandbox_image.sh") from None
    except DockerException as e:
        raise SandboxError(f"cannot inspect {settings.docker_image}: {e}") from e


def _alive(pid: int, start: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19] == start
    except (OSError, IndexError):
        return False


def _own_start_time() -> str:
    return Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]


def reap_orphans(client, hostname: str | None = None) -> list[str]:
    """Remove our containers whose host process is gone (killed before it could ``kill()``).
    Only containers started from this host (by name) are judged: pids mean nothing elsewhere."""
    from docker.errors import DockerException

    hostname = hostname or socket.gethostname()
    removed = []
    for c in client.api.containers(all=True, filters={"label": LABEL}):
        labels = c.get("Labels") or {}
        try:
            pid, start = int(labels.get("grader.host_pid", "")), labels.get("grader.host_start", "")
        except ValueError:
            continue
        if labels.get("grader.host") != hostname or _alive(pid, start):
            continue
        try:
            client.api.remove_container(c["Id"], force=True)
            removed.append(c["Id"])
        except DockerException:
            pass  # another sweeper got there first
    return removed


def _pids_events_file(pid: int) -> Path | None:
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
        path = v1 if fstype == "cgroup" and "pids" in opts.split(",") else v2 if fstype == "cgroup2" and not v1 else None
        if path is not None and root == "/":
            candidate = Path(mountpoint) / path.lstrip("/") / "pids.events"
            if candidate.exists():
                return candidate
    return None


class DockerBackend:
    name = "docker"

    def __init__(self, settings: Settings):
        self.client = _docker_client()
        self.image = image_id(settings)
        self.hostname = socket.gethostname()
        self.gpu_device = getattr(settings, "gpu_device", None)  # the worker's pinned GPU, if any
        for tool in (INIT, SETPRIV, ENV):
            if not os.access(tool, os.X_OK):
                raise SandboxError(f"{tool} is missing on the host (docker.io and coreutils provide it)")
        try:
            reap_orphans(self.client, self.hostname)
        except Exception:  # noqa: BLE001 - a best-effort sweep; the next backend tries again
            pass

    def start(self, spec: SandboxSpec) -> DockerProcess:
        if not spec.argv:
            raise SandboxError("empty argv")
        limits = spec.limits
        for path in (spec.runtime_dir, spec.runner_dir, spec.submission_dir):
            check_reachable(Path(path), limits.uid)
        if any("=" in key or not key for key in spec.env):
            raise SandboxError("environment names must be non-empty and hold no '='")
        name = f"grader-{uuid.uuid4().hex[:16]}"
        try:
            container = self.client.api.create_container(
                self.image,
                command=[INIT, "--", SETPRIV, f"--reuid={limits.uid}", f"--regid={limits.gid}", "--clear-groups",
                         "--bounding-set=-all", "--inh-caps=-all", "--",
                         ENV, "-i", "--", *(f"{k}={v}" for k, v in spec.env.items()), *spec.argv],
                name=name, user="0:0", working_dir=WORK_MOUNT, hostname=HOSTNAME,
                environment={}, stdin_open=True, tty=False, network_disabled=not limits.network,  # StdinOnce: not detached
                labels={LABEL: "1", "grader.job": name, "grader.host": self.hostname,
                        "grader.host_pid": str(os.getpid()), "grader.host_start": _own_start_time()},
                host_config=self.client.api.create_host_config(**self._host_config(spec)),
            )  # fmt: skip
        except Exception as e:  # DockerException, or requests' own (a timeout after the engine made it)
            try:
                self._remove(name)
            except SandboxError:
                pass  # the creation error is the one to report
            raise SandboxError(f"cannot create the sandbox container: {e}") from e
        return DockerProcess(self.client, container["Id"], name, limits)

    def _remove(self, name: str) -> None:
        from docker.errors import DockerException, NotFound

        try:
            self.client.api.remove_container(name, force=True)
        except NotFound:
            pass
        except DockerException as e:
            raise SandboxError(f"cannot remove container {name}: {e}") from e

    def _host_config(self, spec: SandboxSpec) -> dict[str, Any]:
        from docker.types import DeviceRequest, LogConfig, Mount, Ulimit

        limits = spec.limits
        binds = [("/usr", "/usr"), (str(spec.runtime_dir), RUNTIME_MOUNT), (str(spec.runner_dir), RUNNER_MOUNT),
                 (str(spec.submission_dir), SUBMISSION_MOUNT)]
        for top in ("bin", "lib", "lib32", "lib64", "sbin"):  # the image mirrors the host's merged-/usr links
            host = Path("/", top)
            if host.is_dir() and not host.is_symlink():
                binds.append((str(host), str(host)))
        for extra in ("/etc/ld.so.cache", "/etc/alternatives"):  # /usr/bin links into alternatives
            if Path(extra).exists():
                binds.append((extra, extra))
        mounts = [Mount(target, source, type="bind", read_only=True) for source, target in binds]
        # As bwrap's tmpfs: nosuid, nodev, exec allowed; /work owned by the student, mode 0700.
        tmpfs = {
            WORK_MOUNT: f"size={limits.work_dir_mb * MiB},mode=0700,uid={limits.uid},gid={limits.gid},nosuid,nodev,exec",
            "/tmp": f"size={limits.tmp_mb * MiB},mode=1777,nosuid,nodev,exec",
            "/dev/shm": f"size={limits.shm_mb * MiB},mode=1777,nosuid,nodev,exec",
        }
        devices = []
        if spec.gpu:  # untested here (no GPU): the NVIDIA runtime hook adds devices and driver libraries
            device = getattr(spec, "device", None)
            pinned = device.uuid if device is not None else self.gpu_device
            devices = [DeviceRequest(device_ids=[str(pinned)], capabilities=[["gpu"]]) if pinned
                       else DeviceRequest(count=1, capabilities=[["gpu"]])]  # fmt: skip
        else:  # host hardware facts; bwrap shows no /sys at all. The GPU stack may read it.
            tmpfs["/sys"] = "size=4096,ro,nosuid,nodev,noexec"
        cpu = limits.cpu_time_s
        return dict(
            mounts=mounts, tmpfs=tmpfs, read_only=True, network_mode="none" if not limits.network else "bridge",
            mem_limit=limits.memory_mb * MiB, memswap_limit=limits.memory_mb * MiB, pids_limit=limits.pids,
            nano_cpus=int(limits.cpus * 1e9), ipc_mode="private", cap_drop=["ALL"], cap_add=INIT_CAPS,
            security_opt=["no-new-privileges", f"seccomp={seccomp_profile()}"],
            ulimits=[Ulimit(name="cpu", soft=cpu, hard=cpu + 1),
                     Ulimit(name="fsize", soft=limits.file_size_mb * MiB, hard=limits.file_size_mb * MiB),
                     Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files),
                     Ulimit(name="core", soft=0, hard=0)],
            log_config=LogConfig(type="none"),  # stdout/stderr come over the attach socket, never to disk
            device_requests=devices or None,
        )  # fmt: skip


class DockerProcess:
    """One running container. ``stdin``/``stdout`` are pipes pumped to/from its attach socket."""

    def __init__(self, client, container_id: str, name: str, limits: SandboxLimits):
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
            self.stdin = os.fdopen(in_w, "wb")
            self.stdout = os.fdopen(out_r, "rb")
            self._fds = [in_r, out_w]  # the other two are the file objects' now
            self._api.start(container_id)
            pid = self._api.inspect_container(container_id)["State"]["Pid"]
        except BaseException as e:  # the container goes whatever stopped us (KeyboardInterrupt included)
            self._cleanup_after_failed_start()
            if isinstance(e, Exception):
                raise SandboxError(f"cannot start the sandbox container: {e}") from e
            raise
        self._fds = []
        self._pids_events = _pids_events_file(pid) if pid else None
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
        except Exception:  # noqa: BLE001 - requests' errors; never leave the event unset
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


def _close(f) -> None:
    try:
        f.close()
    except OSError:
        pass  # stdin: a broken pipe on the final flush


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
