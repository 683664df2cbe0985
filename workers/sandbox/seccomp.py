"""A classic-BPF seccomp filter for the student zone, loaded by bwrap (``--seccomp FD``).

It denies what lets a process reach into another (ptrace, process_vm_readv/writev, and
pidfd_getfd, which copies another process's file descriptor, with pidfd_open, which nothing in
the runtime needs): every process of the job runs as the student's uid, and the runner's pipes
to the judge must stay the runner's. (``/proc/PID/mem`` is the other way in: pid 1 is made
non-dumpable by ``pid1.py``.) Everything else is
allowed; namespaces, capabilities and cgroups do the rest. Any other architecture (i386 via
int 0x80, x32) is refused outright, so the numbers below cannot be dodged.
"""

from __future__ import annotations

import errno
import platform
import struct

# <linux/audit.h> architectures and their syscall numbers.
_ARCHES = {
    "x86_64": (
        0xC000003E,
        {"ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_open": 434, "pidfd_getfd": 438},
    ),
    "aarch64": (
        0xC00000B7,
        {"ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "pidfd_open": 434, "pidfd_getfd": 438},
    ),
}
DENIED = frozenset(_ARCHES["x86_64"][1])  # the same names on every architecture (docker.py denies these too)
_X32_SYSCALL_BIT = 0x40000000

# <linux/filter.h>, <linux/seccomp.h>
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_OFF_NR, _OFF_ARCH = 0, 4  # struct seccomp_data


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def deny_filter(machine: str | None = None) -> bytes:
    """The filter program for this machine's architecture, as bwrap reads it."""
    machine = machine or platform.machine()
    if machine not in _ARCHES:
        raise RuntimeError(f"no seccomp filter for architecture {machine!r}")
    arch, numbers = _ARCHES[machine]
    denied = list(numbers.values())
    prog = [
        _insn(_LD_W_ABS, _OFF_ARCH),
        _insn(_JEQ_K, arch, jt=1),  # our arch: skip the kill
        _insn(_RET_K, _RET_KILL_PROCESS),
        _insn(_LD_W_ABS, _OFF_NR),
    ]
    if machine == "x86_64":  # x32 ABI shares the arch value: refuse it by its number bit
        prog.append(_insn(_JGE_K, _X32_SYSCALL_BIT, jt=len(denied) + 1))
    for i, nr in enumerate(denied):
        prog.append(_insn(_JEQ_K, nr, jt=len(denied) - i))  # jump to the ERRNO return
    prog.append(_insn(_RET_K, _RET_ALLOW))
    prog.append(_insn(_RET_K, _RET_ERRNO | errno.EPERM))
    return b"".join(prog)
