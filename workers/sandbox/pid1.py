"""Pid 1 of a bwrap sandbox (bwrap ``--as-pid-1``), in place of bwrap's own init.

bwrap's init runs as the student's uid and stays dumpable, so the job could open ``/proc/1/mem``
(read or write its memory) and ``/proc/1/fd`` of the process that holds the sandbox's stdio. This
one makes itself non-dumpable first (``PR_SET_DUMPABLE`` 0: its /proc files become root's, and
ptrace-mode checks fail for the job's uid), then does what bwrap's init does: start the program,
reap every orphan, and exit with the program's status (128+N for signal N) once it ends, which
ends the pid namespace and everything left in it. It keeps none of the program's stdio open.

Runs inside the sandbox as ``python -I -S /.grader-init PROGRAM ARGS...``: standard library only.

``--adopt`` in place of a program: start none, say ``R`` on stdout once the sandbox is up, and wait
for a runner forked from the student zone's template to join (workers/runner/zygote.py): the
first process to enter the pid namespace (pid 2) forks the runner (pid 3) and exits, and pid 1
adopts the runner. Its status is then the sandbox's, as a program's would be.
"""

import ctypes
import os
import signal
import sys

PR_SET_DUMPABLE = 4
EXEC_FAILED = 127
ADOPT = "--adopt"
ADOPTED_PID = 3  # the joining runner: forked by pid 2, the first process to enter after the init


def _non_dumpable() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0)")


def _start(argv: list[str]) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)  # exec makes the program dumpable again: it is the job's own
        except OSError as e:
            os.write(2, f"sandbox init: cannot run {argv[0]}: {e.strerror}\n".encode())
        os._exit(EXEC_FAILED)
    return pid


def _exit_status(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _reap_until(program: int) -> int:
    """Reap every child (adopted ones included) until ``program`` exits; its status."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # nobody adopted yet
            pid = 0
        if pid == program:
            return _exit_status(status)
        if pid == 0:
            signal.sigtimedwait({signal.SIGCHLD}, 1.0)


def main(argv: list[str]) -> int:
    if not argv:
        print("sandbox init: no program", file=sys.stderr)
        return EXEC_FAILED
    _non_dumpable()
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # pid 1 ignores signals it has no handler for
    adopt = argv == [ADOPT]
    if adopt:
        os.write(1, b"R")  # up: the namespaces, mounts and seccomp filter are in place
        program = ADOPTED_PID
    else:
        program = _start(argv)
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):  # the program has them; pid 1 keeps no way into the protocol pipes
        os.dup2(devnull, fd)
    os.close(devnull)
    if adopt:
        return _reap_until(program)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 0
        if pid == program:
            return _exit_status(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
