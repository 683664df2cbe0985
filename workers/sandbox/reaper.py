"""The top of a sandbox's process tree: runs on the host, as root, before anything is dropped.

    python -I -S reaper.py READY_FD CGROUP_PROCS_FILE... -- COMMAND...

It joins the job's cgroups (so everything below it is in them from the first fork; a byte on
READY_FD tells the host it has), becomes a child subreaper, runs COMMAND with an empty
environment, and reaps every orphan until none is left. Without it, bwrap's outer process exits as soon as the program does, and bwrap's pid 1,
orphaned, is left a zombie for the host's init (which, in a container without an init, never
reaps it). It exits with COMMAND's status (128+N for signal N). Standard library only: it runs
isolated (-I -S), outside the project.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
JOIN_FAILED = 125


def main(argv: list[str]) -> int:
    split = argv.index("--")
    ready_fd, procs_files, command = int(argv[0]), argv[1:split], argv[split + 1 :]
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getppid()
    # Die with the host thread that started us (the sandbox then dies with us: --die-with-parent).
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) or os.getppid() != parent:
        return JOIN_FAILED
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0):
        print(f"reaper: prctl: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return JOIN_FAILED
    for path in procs_files:
        try:
            with open(path, "w") as f:
                f.write(str(os.getpid()))
        except OSError as e:
            print(f"reaper: cannot join {path}: {e}", file=sys.stderr)
            return JOIN_FAILED
    os.write(ready_fd, b"1")
    os.close(ready_fd)

    child = os.fork()
    if child == 0:
        try:
            os.execve(command[0], command, {})  # env -i: nothing of the host's environment
        finally:
            os._exit(127)
    # Hold nothing of the job's: not its pipes (their EOF is the job's), not the fds meant for bwrap.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))

    status = 255
    while True:
        try:
            pid, wstatus = os.wait()
        except ChildProcessError:
            return status
        if pid == child:
            code = os.waitstatus_to_exitcode(wstatus)
            status = code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
