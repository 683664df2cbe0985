"""The student zone, attacked one property at a time, on every backend (bwrap and docker: the
``backend`` parameter, see conftest). Each program runs as
``/opt/grader/runtime/bin/python /opt/grader/runner/prog.py`` inside a real sandbox, after a
prelude (conftest.PRELUDE) that imports json, os and sys and defines ``report(**kw)``: print
one JSON line, which ``result()`` reads back.

Tests marked ``backends("bwrap")`` probe bwrap's own machinery (its job cgroup, its reaper,
PDEATHSIG); tests/sandbox/test_docker.py holds the docker backend's counterparts."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grader.settings import Settings
from workers.sandbox import get_backend
from workers.sandbox.base import SandboxError

pytestmark = pytest.mark.sandbox
CHECKOUT = str(Path(__file__).resolve().parents[2])  # this clone, wherever it lives: never inside


def result(out: bytes) -> dict:
    return json.loads(out.decode().strip().splitlines()[-1])


def host_pids_with(token: str) -> list[int]:
    """Host processes whose command line holds ``token`` (a zombie's is empty: it holds nothing)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def job_released(proc) -> bool:
    """The backend's own record of the job is gone: bwrap's job cgroup, or docker's container."""
    if hasattr(proc, "_cgroup"):
        return not any(d.exists() for d in proc._cgroup.dirs.values())
    return container_gone(proc.id)


def container_gone(container_id: str) -> bool:
    import docker
    from docker.errors import NotFound

    try:
        docker.from_env().api.inspect_container(container_id)
    except NotFound:
        return True
    return False


def start_time(pid: int) -> str | None:
    """When ``pid`` started (tells a process from a later one given the same pid); None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def test_unknown_backend_is_a_clear_error(settings):
    with pytest.raises(SandboxError, match="unknown sandbox backend 'nope'"):
        get_backend("nope", settings)


def test_runs_as_unprivileged_uid_without_capabilities(run):
    out, outcome = run("""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
userns = [libc.unshare(0x10000000), ctypes.get_errno()]  # CLONE_NEWUSER: the way to regain capabilities
report(ids=[os.getuid(), os.geteuid(), os.getgid(), os.getegid()], groups=os.getgroups(),
       caps={k: status[k].strip() for k in status if k.startswith("Cap")},
       nnp=status["NoNewPrivs"].strip(), seccomp=status["Seccomp"].strip(), userns=userns)
""")
    r = result(out)
    assert r["ids"] == [65534] * 4
    assert r["groups"] in ([], [65534])
    assert set(r["caps"].values()) == {"0000000000000000"}, r["caps"]
    assert r["nnp"] == "1" and r["seccomp"] == "2"
    assert r["userns"][0] == -1 and r["userns"][1] in (1, 28), r["userns"]  # EPERM or ENOSPC: --disable-userns
    assert outcome.exit_code == 0


def test_environment_is_exactly_spec_env(run, backend):
    # /proc/self/environ is what the program was started with, before Python touches it.
    out, _ = run(
        """
try:
    init = open('/proc/1/environ').read()
except OSError as e:
    init = type(e).__name__
report(env=open('/proc/self/environ').read().split('\\0')[:-1], init=init)
""",
        env={"ONLY": "this", "LANG": "C.UTF-8"},
    )
    r = result(out)
    if backend == "bwrap":
        assert sorted(r["env"]) == ["LANG=C.UTF-8", "ONLY=this", "PWD=/work"]  # PWD comes from bwrap's --chdir
    else:
        assert sorted(r["env"]) == ["LANG=C.UTF-8", "ONLY=this"]  # env -i in front of the program
    # pid 1 (bwrap: pid1.py, non-dumpable; docker: docker-init, root's) is not even readable
    assert r["init"] == "PermissionError"


def test_no_network_but_loopback(run):
    host_ip = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=True).stdout.split()[0]
    out, _ = run(f"""
import socket
def attempt(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return "connected"
    except OSError as e:
        return type(e).__name__
def resolve(name):
    try:
        return socket.getaddrinfo(name, 443)[0][4][0]
    except OSError as e:
        return type(e).__name__
srv = socket.create_server(("127.0.0.1", 0))  # loopback inside works (ipykernel needs it)
report(postgres=attempt("127.0.0.1", 5432), redis=attempt("127.0.0.1", 6379),
       host=attempt("{host_ip}", 2024), dns=resolve("pypi.org"),
       loopback=attempt("127.0.0.1", srv.getsockname()[1]),
       interfaces=[n for _, n in socket.if_nameindex()])
""")
    r = result(out)
    assert r["postgres"] == r["redis"] == "ConnectionRefusedError"  # nothing listens in the sandbox's netns
    assert r["host"] != "connected"
    assert r["dns"] == "gaierror"
    assert r["loopback"] == "connected"
    assert r["interfaces"] == ["lo"]


def test_fork_bomb_is_stopped_by_the_pids_limit(sandbox):
    proc = sandbox(
        """
import time
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
except OSError as e:
    report(children=children, errno=e.errno)
time.sleep(60)
""",
        pids=32,
    )
    r = result(proc.stdout.readline())
    assert r["errno"] == 11 and r["children"] < 32  # EAGAIN at the limit (bwrap's processes count too)
    assert subprocess.run(["true"], check=False).returncode == 0  # the host still forks
    outcome = proc.kill()
    assert outcome.pids_limit_hit and not outcome.oom_killed


def test_memory_bomb_is_oom_killed(run):
    _, outcome = run(
        """
chunks = []
while True:
    chunks.append(bytearray(8 * 1024 * 1024))  # zero-filled: every page is touched
""",
        memory_mb=128,
    )
    assert outcome.oom_killed
    assert outcome.exit_code == 128 + 9  # bwrap reports the program's SIGKILL
    assert not outcome.wall_timeout


def test_infinite_loop_is_killed_at_wall_time(run):
    t0 = time.monotonic()
    _, outcome = run("while True: pass", wall_time_s=2)
    elapsed = time.monotonic() - t0
    assert outcome.wall_timeout
    assert 2 <= elapsed < 4, elapsed
    assert outcome.exit_code == 128 + 9


def test_cpu_time_rlimit(run):
    _, outcome = run("while True: pass", cpu_time_s=1, wall_time_s=10)
    assert outcome.exit_code in (128 + 24, 128 + 9)  # SIGXCPU at the soft limit, SIGKILL at the hard
    assert not outcome.wall_timeout


def test_cpu_quota(run):
    out, _ = run(
        """
import threading, time
def spin():
    end = time.monotonic() + 1.0
    while time.monotonic() < end: pass
threads = [threading.Thread(target=spin) for _ in range(2)]
[t.start() for t in threads]; [t.join() for t in threads]
report(cpu=os.times().user + os.times().system)
""",
        cpus=0.5,
    )
    assert result(out)["cpu"] < 0.5 * 1.0 + 0.3  # two spinning threads, half a core for ~1 s


def test_setsid_double_forked_daemon_is_gone_after_kill(sandbox):
    token = f"daemon-{secrets.token_hex(8)}"
    proc = sandbox(f"""
import time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", "{token}"])
    os._exit(0)
os.wait()
def daemon_running():
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"{token}" in open(f"/proc/{{pid}}/cmdline", "rb").read():
                return True
        except OSError:
            pass
while not daemon_running():
    time.sleep(0.01)
report(ready=True)
time.sleep(600)
""")
    assert result(proc.stdout.readline())["ready"]
    daemons = {pid: start_time(pid) for pid in host_pids_with(token)}
    assert daemons, "the daemon should be running before kill()"
    proc.kill()
    assert host_pids_with(token) == []
    assert not any(start_time(pid) == t for pid, t in daemons.items())  # not even a zombie
    assert job_released(proc)  # cgroup (or container) removed, so nothing was left in it


def test_ptrace_and_process_vm_are_denied(run):
    out, _ = run("""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def ptrace_attach(pid):
    rc = libc.ptrace(16, pid, None, None)  # PTRACE_ATTACH
    return rc, ctypes.get_errno()
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(16)
local, remote = iovec(ctypes.addressof(buf), 16), iovec(0x400000, 16)
rc = libc.process_vm_readv(1, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
report(pid1=ptrace_attach(1), parent=ptrace_attach(os.getppid()), vm_readv=[rc, ctypes.get_errno()])
""")
    r = result(out)
    assert r["pid1"] == r["parent"] == [-1, 1]  # EPERM, from the seccomp filter
    assert r["vm_readv"] == [-1, 1]


PIDFD_AND_PROC_MEM = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_PIDFD_OPEN, SYS_PIDFD_GETFD = 434, 438  # the same on x86_64 and aarch64
def call(nr, *args):
    rc = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    return [rc, ctypes.get_errno() if rc < 0 else 0]
pidfd_open = call(SYS_PIDFD_OPEN, 1, 0)
# Without a filter a bad pidfd is EBADF (9); the filter answers EPERM (1) before the kernel looks.
getfd = call(SYS_PIDFD_GETFD, pidfd_open[0] if pidfd_open[0] >= 0 else 987, 0, 0)
def open_mem(pid):
    try:
        f = open(f"/proc/{pid}/mem", "r+b", buffering=0)  # opening is the access check
    except OSError as e:
        return ["refused", e.errno]
    with f:
        try:
            start = int(open(f"/proc/{pid}/maps").readline().split("-")[0], 16)
            f.seek(start)
            return ["read", len(f.read(16))]
        except OSError as e:
            return ["opened", e.errno]
report(pidfd_open=pidfd_open, getfd=getfd, mem1=open_mem(1), self_mem=open_mem("self"),
       fd1=sorted(os.listdir("/proc/1/fd")) if os.access("/proc/1/fd", os.R_OK) else "refused")
"""


def test_pidfd_getfd_and_pid1_memory_are_out_of_reach(run):
    """pidfd_getfd copies another process's fd (the protocol pipes), /proc/1/mem reads or writes
    pid 1's memory: neither may reach the sandbox's pid 1 (or any other process of the job)."""
    out, _ = run(PIDFD_AND_PROC_MEM)
    r = result(out)
    assert r["getfd"] == [-1, 1], r  # EPERM from the seccomp filter, not EBADF from the kernel
    assert r["pidfd_open"] == [-1, 1], r
    assert r["mem1"] == ["refused", 13], r  # EACCES: pid 1 is not the job's to read or write
    assert r["fd1"] == "refused", r
    assert r["self_mem"] == ["read", 16], r  # the probe works: its own memory it may read


def test_host_files_are_not_visible(run, settings, backend):
    paths = [
        CHECKOUT,
        "/root",
        str(settings.rubrics_dir),
        "/etc/shadow",
        "/home",
        "/var/tmp",
        "/sys",
        str(settings.jobs_dir),
        "/opt/grader/runtime/../../wheels",
    ]
    out, _ = run(f"""
paths = {paths!r}
report(exists={{p: os.path.exists(p) for p in paths}}, work=os.listdir("/work"),
       etc=sorted(os.listdir("/etc")), mounts=open("/proc/self/mountinfo").read(),
       sys=os.listdir("/sys") if os.path.isdir("/sys") else None)
""")
    r = result(out)
    etc = ["alternatives", "group", "hosts", "ld.so.cache", "nsswitch.conf", "passwd"]
    if backend == "docker":  # the engine always adds these three; /sys is an empty tmpfs over sysfs
        etc = sorted([*etc, "hostname", "mtab", "resolv.conf"])
        assert r["exists"].pop("/sys") and r["sys"] == []
    assert not any(r["exists"].values()), r["exists"]
    assert r["work"] == []
    assert r["etc"] == etc
    # A bind of the checkout anywhere shows its host path as the mount's root in mountinfo.
    assert CHECKOUT not in r["mounts"] and "/root" not in r["mounts"]


def test_secret_canary_is_nowhere_inside(sandbox, job, monkeypatch):
    canary = f"canary-{secrets.token_hex(16)}"
    monkeypatch.setenv("GRADER_SECRET_KEY", canary)
    settings = Settings()  # reads the canary from the environment, as a worker would
    assert settings.secret_key == canary
    (job.submission / "control.txt").write_text("canary-positive-control")  # proves the walk reads files
    (job.submission / "control.txt").chmod(0o644)
    proc = sandbox(
        """
needle = b"canary" + b"-"   # never the literal, so this file does not match itself
skip = ("/proc", "/sys", "/usr", "/opt/grader/runtime", "/dev")
def read(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return b""
    try:
        return os.read(fd, 4 << 20)
    except OSError:
        return b""
    finally:
        os.close(fd)
found, scanned = [], 0
for top, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if not os.path.join(top, d).startswith(skip)]
    for f in files:
        path = os.path.join(top, f)
        if os.path.isfile(path) and not os.path.islink(path):
            scanned += 1
            if needle in read(path):
                found.append(path)
for entry in os.listdir("/proc"):
    names = ("environ", "cmdline") if entry.isdigit() else ((None,) if os.path.isfile("/proc/" + entry) else ())
    for name in names:
        path = f"/proc/{entry}/{name}" if name else f"/proc/{entry}"
        if entry not in ("kmsg", "kcore") and needle in read(path):
            found.append(path)
if any(needle in k + b"=" + v for k, v in os.environb.items()):
    found.append("os.environ")
report(found=found, scanned=scanned)
""",
        settings=settings,
    )
    proc.stdin.close()
    out = proc.stdout.read()
    outcome = proc.kill()
    r = result(out)
    assert r["found"] == ["/submission/control.txt"], (r, outcome.log)
    assert r["scanned"] > 5


def test_work_tmp_and_shm_are_size_limited(run):
    out, _ = run(
        """
def fill(path):
    try:
        with open(path, "wb") as f:
            for _ in range(8):
                f.write(b"x" * (1 << 20))
                f.flush()
        return "fit"
    except OSError as e:
        return e.errno
report(work=fill("/work/big"), content=fill("/content/big2"), tmp=fill("/tmp/big"), shm=fill("/dev/shm/big"))
""",
        work_dir_mb=4,
        tmp_mb=4,
        shm_mb=4,
        file_size_mb=64,
    )
    assert result(out) == {"work": 28, "content": 28, "tmp": 28, "shm": 28}  # ENOSPC


def test_file_size_rlimit(run):
    out, _ = run(
        """
try:
    with open("/work/big", "wb") as f:
        f.write(b"x" * (2 << 20))
    report(errno=None)
except OSError as e:
    report(errno=e.errno, size=os.path.getsize("/work/big"))
""",
        file_size_mb=1,
        work_dir_mb=16,
    )
    assert result(out) == {"errno": 27, "size": 1 << 20}  # EFBIG at exactly RLIMIT_FSIZE


def test_runtime_submission_and_root_are_read_only(run, job, backend):
    os.chown(job.submission, 65534, 65534)  # owned by the student's uid: only the mount stops writes
    (job.submission / "notebook.ipynb").write_text("{}")
    os.chown(job.submission / "notebook.ipynb", 65534, 65534)
    out, _ = run("""
def write(path):
    try:
        open(path, "a").close()
        return "written"
    except OSError as e:
        return e.errno
report(runtime=write("/opt/grader/runtime/x"), runner=write("/opt/grader/runner/x"), submission=write("/submission/x"),
       submission_file=write("/submission/notebook.ipynb"), root=write("/x"), usr=write("/usr/x"),
       passwd=write("/etc/passwd"), work=write("/work/x"))
""")
    r = result(out)
    assert r.pop("work") == "written"
    if backend == "docker":  # the image's root-owned file: overlayfs checks permissions before EROFS
        assert r.pop("passwd") in (13, 30)
    assert r == dict.fromkeys(r, 30), r  # EROFS everywhere else


def test_killing_pid1_or_everything_inside_just_ends_the_job(run, sandbox):
    out, outcome = run("""
import signal
for target in (1, os.getppid()):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError:
        pass
report(survived=True)
sys.exit(3)
""")
    # SIGKILL to its own pid namespace's init is ignored by the kernel: the job carries on.
    assert outcome.exit_code == 3 and result(out) == {"survived": True}

    # kill(-1) from a child takes every process but init and itself: the program is gone, and
    # with it the job (the leftover child included), long before the wall-clock kill.
    t0 = time.monotonic()
    _, outcome = run("""
import os, signal, time
if os.fork() == 0:
    os.kill(-1, signal.SIGKILL)
    time.sleep(30)
time.sleep(30)
""")
    assert time.monotonic() - t0 < 3 and not outcome.wall_timeout
    assert outcome.exit_code == 128 + 9


def test_stdout_pipe_delivers_everything(sandbox):
    proc = sandbox("""
import sys
for line in sys.stdin.buffer:
    sys.stdout.buffer.write(line.upper())
    sys.stdout.buffer.flush()
sys.stdout.buffer.write(b"z" * (3 << 20))
""")
    for i in range(50):  # a request/response protocol: one line out, one line back
        proc.stdin.write(f"message {i}\n".encode())
        proc.stdin.flush()
        assert proc.stdout.readline() == f"MESSAGE {i}\n".encode()
    proc.stdin.close()
    assert proc.stdout.read() == b"z" * (3 << 20)  # larger than any pipe buffer
    assert proc.wait(5) == 0
    assert proc.kill().exit_code == 0


def test_stdio_pipes_do_not_reopen_through_proc(run):
    """The pipes to the host are root's (docker: the container's user is root until setpriv), so no
    process inside can reopen another's stdin/stdout through /proc and speak on its behalf."""
    out, _ = run("""
reopened = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    for fd in ("0", "1", "2"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            os.close(os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            continue
        if target != "/dev/null":
            reopened.append([pid, fd, target])
report(reopened=reopened, me=os.getpid())
""")
    assert result(out)["reopened"] == []


def test_stderr_flood_with_stdin_unread_does_not_hang_the_host(sandbox):
    proc = sandbox(
        """
import sys
while True:
    sys.stderr.write("flood " * 1000)
""",
        log_bytes=4096,
        wall_time_s=20,
    )
    writer_done = threading.Event()

    def write_stdin():  # the host keeps talking; nobody reads
        try:
            while True:
                proc.stdin.write(b"x" * 65536)
                proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            writer_done.set()

    threading.Thread(target=write_stdin, daemon=True).start()
    time.sleep(1.0)
    assert proc.poll() is None
    t0 = time.monotonic()
    outcome = proc.kill()
    assert time.monotonic() - t0 < 3
    assert writer_done.wait(3), "the blocked stdin writer should be released by kill()"
    assert len(outcome.log) <= 4096
    assert outcome.log.startswith(b"flood ") and b"log truncated" in outcome.log
    assert not outcome.wall_timeout


@pytest.mark.backends("bwrap")  # the reaper and the sandbox's pid 1; docker: test_docker.py
def test_nothing_is_left_after_a_normal_exit(sandbox):
    """Not even a zombie: the job's reaper collects what bwrap's early exit would orphan."""
    proc = sandbox(
        "import os, time\nif os.fork() == 0:\n    time.sleep(0.5)\nprint('forked', flush=True)\ntime.sleep(0.2)"
    )
    assert proc.stdout.readline() == b"forked\n"
    seen = {pid: start_time(pid) for pid in proc._cgroup.pids()}
    assert len(seen) >= 4  # reaper, bwrap, the sandbox's pid 1 (pid1.py), the program (and maybe its child)
    assert proc.wait(5) == 0
    outcome = proc.kill()
    assert not outcome.pids_limit_hit and not outcome.oom_killed and not outcome.wall_timeout
    assert not any(start_time(pid) == t for pid, t in seen.items())


def test_kill_is_idempotent_and_releases_the_cgroup(sandbox):
    proc = sandbox("import time; time.sleep(30)")
    assert not job_released(proc)
    first = proc.kill()
    assert proc.kill() is first
    assert first.exit_code == 128 + 9 and not first.wall_timeout
    assert job_released(proc)


def test_spawning_thread_may_exit(sandbox):
    """--die-with-parent is tied to the thread that forked bwrap: a caller's short-lived thread must not take the job with it."""
    box = {}
    t = threading.Thread(
        target=lambda: box.setdefault("proc", sandbox("import sys, time; time.sleep(1); print('alive')"))
    )
    t.start()
    t.join()
    proc = box["proc"]
    assert proc.stdout.read() == b"alive\n"
    assert proc.wait(5) == 0


@pytest.mark.backends("bwrap")  # PDEATHSIG; docker's counterpart is the orphan sweep (test_docker.py)
def test_job_dies_with_the_host_process(make_spec, backend):
    """The worker is SIGKILLed mid-job: nothing of the job survives it (PDEATHSIG all the way down)."""
    token = f"orphan-{secrets.token_hex(8)}"
    spec = make_spec(f"""
import os, sys, time
if os.fork() == 0:
    os.setsid()
    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", "{token}"])
print("ready", flush=True)
time.sleep(600)
""")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"""
import json, threading
from pathlib import Path
from grader.settings import Settings, SandboxLimits
from workers.sandbox import get_backend
from workers.sandbox.base import SandboxSpec
spec = SandboxSpec({spec.argv!r}, Path({str(spec.runtime_dir)!r}), Path({str(spec.runner_dir)!r}),
                   Path({str(spec.submission_dir)!r}), SandboxLimits.model_validate_json({spec.limits.model_dump_json()!r}))
proc = get_backend("bwrap", Settings()).start(spec)
proc.stdout.readline()
print(json.dumps([str(d) for d in proc._cgroup.dirs.values()]), flush=True)
threading.Event().wait()
""",
        ],
        stdout=subprocess.PIPE,
    )
    cgroup_dirs = [Path(d) for d in json.loads(worker.stdout.readline())]
    try:
        deadline = time.monotonic() + 5
        while not host_pids_with(token) and time.monotonic() < deadline:
            time.sleep(0.01)  # the daemon may not have exec'd yet
        assert host_pids_with(token), "the job's daemon should be running"
        worker.kill()
        worker.wait()
        deadline = time.monotonic() + 5
        while host_pids_with(token) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert host_pids_with(token) == []
    finally:  # a dead worker leaves its (empty) job cgroups behind; nobody else may remove them
        worker.kill()
        for d in cgroup_dirs:
            deadline = time.monotonic() + 5
            while d.exists() and time.monotonic() < deadline:
                try:
                    d.rmdir()
                except OSError:
                    time.sleep(0.05)
