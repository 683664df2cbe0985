"""``LocalBlobStore``: blobs as files under one directory, ``<root>/<first 2 hex>/<sha256>``.

A put streams into a temp file under ``<root>/.tmp`` (same filesystem, so the rename is atomic),
fsyncs it, renames it into place and fsyncs the directory: after ``put`` returns, a power cut
cannot lose the blob, so the API may commit the row that points at it. Readers never see a
partial file, since only complete, fsynced files are renamed in.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from grader.blobs.base import CHUNK, Blob, BlobNotFound, BlobTooLarge, check_key


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs_durable(path: Path) -> None:
    # A new directory is itself an entry in its parent: fsync the parent too, or a crash can
    # take the directory (and every blob in it) away after we reported success.
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        _fsync_dir(d.parent)


class LocalBlobStore:
    """A ``BlobStore`` on a local (or shared) directory. Never deletes a blob."""

    def __init__(self, root: Path | str, max_bytes: int | None = None, file_mode: int = 0o440):
        self.root = Path(root)
        self.max_bytes = max_bytes  # the store's cap; a put may ask for a smaller one
        self.file_mode = file_mode  # read-only: a stored blob is never rewritten in place
        self._tmp = self.root / ".tmp"

    def path(self, sha256: str) -> Path:
        check_key(sha256)
        return self.root / sha256[:2] / sha256

    def put(self, stream: BinaryIO, max_bytes: int | None = None) -> Blob:
        limits = [m for m in (self.max_bytes, max_bytes) if m is not None]
        limit = min(limits) if limits else None
        _makedirs_durable(self._tmp)
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        tmp = Path(name)
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise BlobTooLarge(f"upload is over the limit of {limit} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, self.file_mode)
            blob = Blob(digest.hexdigest(), size)
            target = self.path(blob.sha256)
            _makedirs_durable(target.parent)
            try:
                present = target.stat().st_size == size  # a short file (a failed disk) is replaced
            except FileNotFoundError:
                present = False
            if present:
                tmp.unlink()
            else:
                os.replace(tmp, target)  # atomic; a concurrent put of the same content is harmless
            # Also when already present: a concurrent put may have renamed it in but not yet
            # fsynced the directory, and our caller is about to commit a row pointing at it.
            _fsync_dir(target.parent)
            return blob
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self.path(sha256), "rb")
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int:
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def sweep_temp(self, older_than_s: float = 24 * 3600) -> int:
        """Remove temp files left by a process killed mid-put. Old ones only: a put may be running."""
        if not self._tmp.is_dir():
            return 0
        removed, cutoff = 0, time.time() - older_than_s
        for p in self._tmp.iterdir():
            try:
                if p.stat().st_mtime < cutoff:
                    p.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed
