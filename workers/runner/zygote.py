"""The student zone's template: runners forked into fresh sandboxes instead of started cold.

A runner started cold in its sandbox spends most of its CPU importing nbclient, jupyter_client,
zmq and asyncio, and its kernel as much again importing ipykernel, IPython and numpy. The
template (``python -I -B boot.py --zygote LISTEN_FD SECCOMP_FILE``, run on the host as the
student's uid with the sandbox's environment) imports all of that once. For each job the host
starts a fresh bwrap sandbox as always (new namespaces, /proc, tmpfs work dir, /tmp and /dev/shm,
the job's cgroup), whose pid 1 waits to adopt a runner (``pid1.py --adopt``); the template then
forks a child that the host moves into the job's cgroup, and that child joins the sandbox:

    setrlimit (the job's)  ->  setns user, ipc, uts, net, cgroup, pid, mnt (the sandbox's pid 1's)
      -> fork (pid 2 of the sandbox) -> fork (pid 3; pid 2 exits, and pid 1 adopts the runner)
      -> setsid, chdir /work, the sandbox's environment, no capabilities, no_new_privs,
         the same seccomp filter bwrap loads, only the protocol pipes and the log open
      -> the runner's ``main()``, already imported.

No student byte reaches the template, and every job is a fork of the same clean template, never
of another job. What the template holds: the runtime's modules and this folder, nothing else.

Conversation on an accepted connection of the listening socket (SOCK_SEQPACKET, one datagram each):

    host -> {"pid1": HOST_PID, "env": {...}, "rlimits": {NAME: [soft, hard]}}
            + fds (runner stdin, runner stdout, runner stderr, go)
    zygote -> {"pid": HOST_PID_OF_THE_CHILD} or {"error": ...}
    host: moves that pid into the job's cgroup, then writes one byte on ``go``.

Standard library and the runtime only (it runs the course runtime's python, not the grader's).
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
from typing import Any

# <linux/sched.h>
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
# Joined in this order, the mount namespace last (after it, the host's /proc/PID/ns files are out of reach).
NAMESPACES = (
    ("user", CLONE_NEWUSER),
    ("ipc", CLONE_NEWIPC),
    ("uts", CLONE_NEWUTS),
    ("net", CLONE_NEWNET),
    ("cgroup", CLONE_NEWCGROUP),
    ("pid", CLONE_NEWPID),
    ("mnt", CLONE_NEWNS),
)
# <linux/prctl.h>, <linux/capability.h>, <linux/seccomp.h>
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 4, 24, 38, 22
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
SECCOMP_MODE_FILTER = 2
NS_GET_USERNS = 0xB701  # <linux/nsfs.h>: the user namespace that owns a namespace
LINUX_CAPABILITY_VERSION_3 = 0x20080522
WORK_DIR = "/work"
RUNTIME_MOUNT = "/opt/grader/runtime"
RUNNER_MOUNT = "/opt/grader/runner"
RLIMITS = {"cpu": resource.RLIMIT_CPU, "fsize": resource.RLIMIT_FSIZE, "nofile": resource.RLIMIT_NOFILE}
RLIMITS["core"] = resource.RLIMIT_CORE
MAX_REQUEST = 256 * 1024
JOIN_FAILED = 125

_libc = ctypes.CDLL(None, use_errno=True)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def preload(modules: list[str]) -> None:
    """Everything a runner and its kernel import, imported once here."""
    import ipykernel.ipkernel
    import ipykernel.kernelapp
    import ipykernel.zmqshell  # noqa: F401
    import nbformat

    from . import calls, definitions, kernel, main, notebook, prelude  # noqa: F401  (the runner's own)

    nbformat.v4.new_notebook()  # compiles and caches the schema validator a runner reads notebooks with

    for name in modules:
        __import__(name)


def drop_privileges(seccomp_filter: bytes) -> None:
    """No capability left in any set, no way to gain one, and the sandbox's seccomp filter."""
    last_cap = int(open("/proc/sys/kernel/cap_last_cap").read())
    for cap in range(last_cap + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "PR_CAPBSET_DROP")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "PR_CAP_AMBIENT")
    header = struct.pack("=Ii", LINUX_CAPABILITY_VERSION_3, 0)
    data = bytes(24)  # two __user_cap_data_struct of (effective, permitted, inheritable), all zero
    _check(_libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(data)), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
    program = ctypes.create_string_buffer(seccomp_filter, len(seccomp_filter))
    fprog = _SockFprog(len(seccomp_filter) // 8, ctypes.cast(program, ctypes.c_void_p))
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "PR_SET_SECCOMP")
    # A credential change cleared it; a runner started by exec is dumpable, and so is this one.
    _check(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "PR_SET_DUMPABLE")


def join(pid1: int, rlimits: dict[str, list[int]]) -> None:
    """Into the namespaces of the sandbox whose pid 1 is ``pid1`` (a host pid), under its rlimits.

    bwrap made two user namespaces: the one that owns the others, and (``--disable-userns``) one
    nested in it for the job. The owner first (it gives the capabilities that joining the others
    needs), then the others, the mount namespace last, then the job's own user namespace.
    """
    for name, (soft, hard) in rlimits.items():
        resource.setrlimit(RLIMITS[name], (soft, hard))
    fds = {name: os.open(f"/proc/{pid1}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC) for name, _ in NAMESPACES}
    owner = fcntl.ioctl(fds["mnt"], NS_GET_USERNS)
    try:
        _check(_libc.setns(owner, CLONE_NEWUSER), "setns the owning user namespace")
        for name, flag in NAMESPACES:
            if name != "user":
                _check(_libc.setns(fds[name], flag), f"setns {name}")
        if os.fstat(fds["user"]).st_ino != os.fstat(owner).st_ino:
            _check(_libc.setns(fds["user"], CLONE_NEWUSER), "setns the job's user namespace")
    finally:
        for fd in (owner, *fds.values()):
            os.close(fd)


def _as_mounted(host_dir: str) -> None:
    """The runner's modules name their files where the sandbox mounts them (they read siblings)."""
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path.startswith(host_dir + os.sep):
            module.__file__ = RUNNER_MOUNT + path[len(host_dir) :]


def become_runner(request: dict[str, Any], fds: list[int], seccomp_filter: bytes) -> int:
    """The child: wait to be in the job's cgroup, join the sandbox, and run the runner (as pid 2)."""
    stdin, stdout, stderr, go = fds
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if os.read(go, 1) != b"1":  # the host moved us into the job's cgroup (or gave up on us)
        return JOIN_FAILED
    os.close(go)
    join(int(request["pid1"]), request["rlimits"])
    # Two forks: the first child is the sandbox's pid 2; it forks the runner (pid 3) and exits, and
    # an orphan inside a pid namespace is adopted by that namespace's pid 1, which reports its status.
    child = os.fork()
    if child != 0:
        os.waitpid(child, 0)
        return 0
    if os.fork() != 0:
        os._exit(0)
    os.setsid()
    os.chdir(WORK_DIR)
    # The runtime as the sandbox mounts it (the host's copy may live elsewhere): the kernel's argv.
    sys.executable = f"{RUNTIME_MOUNT}/bin/python"
    sys.prefix = sys.exec_prefix = RUNTIME_MOUNT
    _as_mounted(os.path.dirname(os.path.abspath(__file__)))
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ["PWD"] = WORK_DIR  # as bwrap's --chdir sets it for a started runner
    drop_privileges(seccomp_filter)
    for target, fd in enumerate((stdin, stdout, stderr)):
        os.dup2(fd, target)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    sys.argv = ["/opt/grader/runner/boot.py"]
    from .forked_kernel import arm
    from .main import main

    arm()  # its first kernel is a fork of it, not a new interpreter
    try:
        code = main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def _fork_runner(conn: socket.socket, listener: socket.socket, seccomp_filter: bytes) -> None:
    message, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 4)
    try:
        request = json.loads(message)
        if len(fds) != 4 or not isinstance(request, dict):
            raise ValueError("a request is a JSON object and four fds")
    except ValueError as e:
        for fd in fds:
            os.close(fd)
        conn.send(json.dumps({"error": str(e)}).encode())
        return
    pid = os.fork()
    if pid == 0:
        code = JOIN_FAILED
        try:
            conn.close()
            listener.close()
            code = become_runner(request, fds, seccomp_filter)
        except BaseException as e:
            try:
                os.write(2, f"zygote: {type(e).__name__}: {e}\n".encode())
            except OSError:
                pass
        os._exit(code)
    for fd in fds:
        os.close(fd)
    conn.send(json.dumps({"pid": pid}).encode())


def serve(listen_fd: int, seccomp_path: str, modules: list[str]) -> int:
    """Fork a runner per connection, until the host closes our stdin (or we are killed)."""
    with open(seccomp_path, "rb") as f:
        seccomp_filter = f.read()
    preload(modules)
    listener = socket.socket(fileno=listen_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    gc.collect()
    gc.freeze()  # the template's objects stay shared pages in every fork
    os.write(1, b"ready\n")
    while True:
        readable, _, _ = select.select([listener.fileno(), 0], [], [])
        if 0 in readable:  # our stdin's end: the host that started us is gone
            return 0
        try:
            conn, _ = listener.accept()
        except OSError:
            return 0
        with conn:
            try:
                _fork_runner(conn, listener, seccomp_filter)
            except OSError as e:
                print(f"zygote: {e}", file=sys.stderr, flush=True)
