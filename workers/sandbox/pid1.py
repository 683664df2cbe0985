"""Pid 1 of a bwrap sandbox (bwrap ``--as-pid-1``), in place of bwrap's own init.

bwrap's init runs as the student's uid and stays dumpable, so the job could open ``/proc/1/mem``
(read or write its memory) and ``/proc/1/fd`` of the process that holds the sandbox's stdio. This
one makes itself non-dumpable first (``PR_SET_DUMPABLE`` 0: its /proc files become root's, and
ptrace-mode checks fail for the job's uid), then does what bwrap's init does: start the program,
reap every orphan, and exit with the program's status (128+N for signal N) once it ends, which
ends the pid namespace and everything left in it. It keeps none of the program's stdio open.

Runs inside the sandbox as ``python -I -S /.grader-init PROGRAM ARGS...``: standard library only.
"""

import ctypes
import os
import signal
import sys

PR_SET_DUMPABLE = 4
EXEC_FAILED = 127


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


def main(argv: list[str]) -> int:
    if not argv:
        print("sandbox init: no program", file=sys.stderr)
        return EXEC_FAILED
    _non_dumpable()
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # pid 1 ignores signals it has no handler for
    program = _start(argv)
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):  # the program has them; pid 1 keeps no way into the protocol pipes
        os.dup2(devnull, fd)
    os.close(devnull)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 0
        if pid == program:
            return _exit_status(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
