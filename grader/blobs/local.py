"""``LocalBlobStore``: blobs as files under one directory, ``<root>/<first 2 hex>/<sha256>``.

A put streams into a temp file under ``<root>/.tmp`` (same filesystem, so the rename is atomic),
fsyncs it, renames it into place and fsyncs the directory: after ``put`` returns, a power cut
cannot lose the blob, so the API may commit the row that points at it. Readers never see a
partial file, since only complete, fsynced files are renamed in.

A file's mtime is when its content was last stored (a put of content already there touches it):
the orphan collector deletes only blobs older than its grace period, and ``delete`` rechecks that
after moving the file aside, so a put racing with it either sees the file gone (and stores its
own copy) or has refreshed it (and delete puts it back).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from grader.blobs.base import CHUNK, BadBlobKey, Blob, BlobNotFound, BlobTooLarge, check_key


def _is_key(name: str) -> bool:
    try:
        check_key(name)
        return True
    except BadBlobKey:
        return False


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
    """A ``BlobStore`` on a local (or shared) directory. Deletes only for the orphan collector."""

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
                try:
                    os.utime(target)  # stored again: fresh for the orphan collector
                except FileNotFoundError:
                    present = False  # the collector moved it aside a moment ago: store ours
                except PermissionError:
                    present = False  # another user's file: replacing it refreshes it just as well
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

    def keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            if len(folder.name) != 2 or not folder.is_dir():  # skips .tmp
                continue
            for p in folder.iterdir():
                if p.name.startswith(folder.name) and _is_key(p.name):
                    yield p.name

    def modified_at(self, sha256: str) -> float:
        try:
            return self.path(sha256).stat().st_mtime
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def delete(self, sha256: str, *, unless_stored_since: float) -> bool:
        target = self.path(sha256)
        _makedirs_durable(self._tmp)
        aside = self._tmp / f"delete-{sha256}-{uuid.uuid4().hex}"
        try:
            os.rename(target, aside)  # atomic: from here a put finds it absent and stores it afresh
        except FileNotFoundError:
            return False
        if aside.stat().st_mtime >= unless_stored_since:
            # A put touched it before we moved it, and its caller may be committing a row that
            # points at it: put it back (a put since then stored the same bytes: either will do).
            os.replace(aside, target)
            _fsync_dir(target.parent)
            return False
        aside.unlink()
        _fsync_dir(target.parent)
        return True

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
