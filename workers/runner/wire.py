"""Framing of the judge <-> runner pipe. Standard library only: the runner and the judge both use it.

One message on the pipe::

    MAGIC (4 bytes) | header length (4 bytes, big-endian) | header (UTF-8 JSON object) | blob 0 | blob 1 | ...

The header is a JSON object whose ``"blobs"`` key lists the byte size of every raw blob that
follows it; its other keys are the message. Blobs carry ``.npy`` files and the executed notebook,
so arrays never go through JSON (or pickle).

Whatever arrives is checked against explicit limits and a deadline before anything is allocated:
a peer that lies about sizes, stalls, or sends garbage gets a ``WireError``, never a hang.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAGIC = b"GRD1"
_PREFIX = struct.Struct(">4sI")
_CHUNK = 1 << 20


class WireError(Exception):
    """The other side broke the framing. The message says how."""


class WireClosed(WireError):
    """The pipe was closed cleanly between two messages (end of the conversation)."""


class WireTimeout(WireError):
    """The deadline passed before the whole message arrived (or could be written)."""


@dataclass(frozen=True)
class WireLimits:
    max_header: int  # bytes of the JSON header
    max_blob: int  # bytes of any one blob
    max_total: int  # bytes of the whole message, prefix included


@dataclass
class Message:
    header: dict[str, Any]  # without the "blobs" key
    blobs: list[bytes]


def _fileno(f: Any) -> int:
    return f if isinstance(f, int) else f.fileno()


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise WireTimeout("deadline passed")
    return left


def _wait(fd: int, events: int, deadline: float | None) -> None:
    poller = select.poll()
    poller.register(fd, events | select.POLLHUP | select.POLLERR)
    while True:
        left = _remaining(deadline)
        if poller.poll(None if left is None else max(1, int(left * 1000))):
            return
        # poll() returned empty: loop to re-check the deadline


def _read_exact(fd: int, n: int, deadline: float | None, what: str, at_start: bool = False) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < n:
        _wait(fd, select.POLLIN, deadline)
        try:
            chunk = os.read(fd, min(_CHUNK, n - got))
        except BlockingIOError:
            continue
        except OSError as e:
            raise WireError(f"read failed: {e}") from None
        if not chunk:
            if at_start and got == 0:
                raise WireClosed("pipe closed")
            raise WireError(f"truncated {what}: got {got} of {n} bytes before end of pipe")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def decode_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise WireError(f"bad header: {type(e).__name__}: {str(e)[:200]}") from None
    if not isinstance(header, dict):
        raise WireError("bad header: not a JSON object")
    return header


def read_message(f: Any, limits: WireLimits, deadline: float | None = None) -> Message:
    """Read one message. ``deadline`` is a ``time.monotonic()`` instant, or None to wait forever.

    Raises ``WireClosed`` on a clean end of pipe before the first byte, ``WireTimeout`` when the
    deadline passes, and ``WireError`` for anything malformed or over the limits.
    """
    fd = _fileno(f)
    prefix = _read_exact(fd, _PREFIX.size, deadline, "prefix", at_start=True)
    magic, size = _PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise WireError(f"bad magic {magic!r}")
    if size > limits.max_header:
        raise WireError(f"header of {size} bytes is over the limit of {limits.max_header}")
    header = decode_header(_read_exact(fd, size, deadline, "header"))
    sizes = header.pop("blobs", None)
    if not isinstance(sizes, list) or not all(type(s) is int and s >= 0 for s in sizes):
        raise WireError("bad header: 'blobs' must be a list of sizes")
    for s in sizes:
        if s > limits.max_blob:
            raise WireError(f"blob of {s} bytes is over the limit of {limits.max_blob}")
    total = _PREFIX.size + size + sum(sizes)
    if total > limits.max_total:
        raise WireError(f"message of {total} bytes is over the limit of {limits.max_total}")
    blobs = [_read_exact(fd, s, deadline, f"blob {i}") for i, s in enumerate(sizes)]
    return Message(header, blobs)


def encode_message(header: dict[str, Any], blobs: Sequence[bytes] = ()) -> bytes:
    if "blobs" in header:
        raise ValueError("'blobs' is reserved")
    raw = json.dumps({**header, "blobs": [len(b) for b in blobs]}, separators=(",", ":")).encode()
    return b"".join([_PREFIX.pack(MAGIC, len(raw)), raw, *blobs])


def write_message(f: Any, header: dict[str, Any], blobs: Sequence[bytes] = (), deadline: float | None = None) -> None:
    """Write one message. With a deadline the write never blocks past it, even if the peer stops reading."""
    fd = _fileno(f)
    data = memoryview(encode_message(header, list(blobs)))
    was_blocking = os.get_blocking(fd)
    if deadline is not None and was_blocking:
        os.set_blocking(fd, False)
    try:
        while data:
            if deadline is not None:
                _wait(fd, select.POLLOUT, deadline)
            try:
                n = os.write(fd, data[:_CHUNK])
            except BlockingIOError:
                continue
            except OSError as e:  # BrokenPipeError: the peer is gone
                raise WireError(f"write failed: {e}") from None
            data = data[n:]
    finally:
        if deadline is not None and was_blocking:
            os.set_blocking(fd, True)
