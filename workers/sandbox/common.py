"""What both backends share: the sandbox's hostname, the bind-source check, the capped stderr log."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import IO

from .base import SandboxError

HOSTNAME = "grader"
MiB = 1024 * 1024


def check_reachable(path: Path, uid: int) -> None:
    """Bind sources are resolved as the sandbox uid (bwrap) or must be readable by it (docker):
    fail clearly, not with the backend's ENOENT."""
    if not path.exists():
        raise SandboxError(f"{path} does not exist")
    for p in [path, *path.parents]:
        st = p.stat()
        if st.st_uid != uid and not st.st_mode & stat.S_IXOTH:
            raise SandboxError(f"{p} is not reachable by uid {uid} (mode {oct(st.st_mode)})")


class CappedLog:
    """Keeps the first and last halves of up to ``cap`` bytes; reads on forever, never blocking the writer."""

    MARK = b"\n[... log truncated ...]\n"

    def __init__(self, cap: int):
        self._half = max(0, (cap - len(self.MARK)) // 2)
        self._head = bytearray()
        self._tail = bytearray()
        self._truncated = False
        self._lock = threading.Lock()  # a joined runner's stderr and the sandbox's are drained side by side

    def drain(self, pipe: IO[bytes]) -> None:
        """Read ``pipe`` to its EOF (bwrap: the job's stderr)."""
        fd = pipe.fileno()
        while chunk := os.read(fd, 65536):
            self.feed(chunk)

    def feed(self, chunk: bytes) -> None:
        """Take one chunk (docker: a stderr frame of the attach socket)."""
        with self._lock:
            self._feed(chunk)

    def _feed(self, chunk: bytes) -> None:
        room = self._half - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self._tail += chunk
            if len(self._tail) > self._half:
                self._truncated = True
                del self._tail[: len(self._tail) - self._half]

    def value(self) -> bytes:
        return bytes(self._head + (self.MARK if self._truncated else b"") + self._tail)
