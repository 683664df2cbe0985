"""The blob store interface: content-addressed, durable, append-only storage of received files.

The API stores every upload here before committing its ``submissions`` row; workers read the
submission back by its sha256. Only this interface is shared, never a path: ``LocalBlobStore`` is
a directory on this host (the embedded default, or a shared volume), and a worker on another host
can use another implementation of the same protocol (an HTTP client of the API, an object store)
without any other change. A receipt promises the file is kept: only the orphan collector
(``grader.runs.blob_gc``) deletes, and only blobs that no row references and nobody stored lately.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol, runtime_checkable

CHUNK = 1 << 20  # the read size for every stream of a stored or uploaded file
_KEY = re.compile(r"[0-9a-f]{64}")


class BlobError(Exception):
    pass


class BadBlobKey(BlobError, ValueError):
    """A key that is not 64 lowercase hex digits (it could name a path outside the store)."""


class BlobTooLarge(BlobError, ValueError):
    """The stream went over the size limit; nothing was stored."""


class BlobNotFound(BlobError, LookupError):
    pass


class BlobCorrupt(BlobError):
    """What was read back does not hash to its key."""


class Blob(NamedTuple):
    sha256: str
    size: int


def check_key(sha256: str) -> str:
    # Lowercase only: one canonical name per content, and nothing a path could be built from.
    if not isinstance(sha256, str) or not _KEY.fullmatch(sha256):
        raise BadBlobKey(f"not a sha256 hex digest: {sha256!r}"[:120])
    return sha256


@runtime_checkable
class BlobStore(Protocol):
    def put(self, stream: BinaryIO, max_bytes: int | None = None) -> Blob:
        """Store a stream; return its (sha256, size). Durable when it returns (file and directory
        entry on stable storage). Over ``max_bytes``: raise ``BlobTooLarge`` and keep nothing.
        Storing content already present stores nothing new and returns the same key."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """A readable binary stream of the blob; the caller closes it. ``BlobNotFound`` if absent."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int: ...

    def keys(self) -> Iterator[str]:
        """Every stored blob's key, in no particular order."""
        ...

    def modified_at(self, sha256: str) -> float:
        """When this content was last stored (Unix time): a put of content already present counts
        as storing it again. ``BlobNotFound`` if absent."""
        ...

    def delete(self, sha256: str, *, unless_stored_since: float) -> bool:
        """Remove a blob unless it was stored (or stored again) at or after ``unless_stored_since``,
        deciding that atomically with respect to a concurrent put of the same content: a put that
        returns has its blob, whatever delete does. True if removed."""
        ...


def fetch(store: BlobStore, sha256: str, dest: Path) -> Blob:
    """Copy a blob to a local file, checking its hash (a worker's way in, whatever the store)."""
    check_key(sha256)
    digest, size = hashlib.sha256(), 0
    with store.open(sha256) as src, open(dest, "wb") as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        dest.unlink(missing_ok=True)
        raise BlobCorrupt(f"blob {sha256} read back as {digest.hexdigest()}")
    return Blob(sha256, size)
