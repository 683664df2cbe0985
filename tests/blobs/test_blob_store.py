"""LocalBlobStore on real files: durability, dedup, limits, keys, concurrency."""

import hashlib
import inspect
import io
import os
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from grader.blobs import (
    BadBlobKey,
    Blob,
    BlobCorrupt,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    LocalBlobStore,
    fetch,
)

DATA = os.urandom(3 * (1 << 20) + 17)  # spans several read chunks
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def store(tmp_path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def blob_files(store: LocalBlobStore) -> list[Path]:
    return sorted(p for p in store.root.rglob("*") if p.is_file() and ".tmp" not in p.parts)


def temp_files(store: LocalBlobStore) -> list[Path]:
    tmp = store.root / ".tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


def test_is_a_blob_store(store):
    assert isinstance(store, BlobStore)  # a runtime-checkable Protocol: checks the method names only

    def parameters(function):
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]

    methods = [name for name, _ in inspect.getmembers(BlobStore, inspect.isfunction) if not name.startswith("_")]
    assert len(methods) >= 7  # put, open, exists, size, keys, modified_at, delete
    for name in methods:
        assert parameters(getattr(type(store), name)) == parameters(getattr(BlobStore, name)), name


def test_put_returns_sha256_and_size_and_reads_back(store):
    blob = store.put(io.BytesIO(DATA))
    assert blob == Blob(SHA, len(DATA)) and blob == (SHA, len(DATA))
    assert store.exists(SHA) and store.size(SHA) == len(DATA)
    with store.open(SHA) as f:
        assert f.read() == DATA
    assert blob_files(store) == [store.root / SHA[:2] / SHA]
    assert temp_files(store) == []


def test_empty_blob(store):
    blob = store.put(io.BytesIO(b""))
    assert blob == (hashlib.sha256(b"").hexdigest(), 0) and store.size(blob.sha256) == 0


def test_stored_blob_is_read_only(store):
    store.put(io.BytesIO(DATA))
    mode = stat.S_IMODE(store.path(SHA).stat().st_mode)
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_same_content_stored_once(store):
    first = store.put(io.BytesIO(DATA))
    inode = store.path(SHA).stat().st_ino
    second = store.put(io.BytesIO(DATA))
    assert first == second
    assert blob_files(store) == [store.path(SHA)]
    assert store.path(SHA).stat().st_ino == inode  # not rewritten
    assert temp_files(store) == []


def test_short_file_left_by_a_failed_disk_is_replaced(store):
    path = store.path(SHA)
    path.parent.mkdir(parents=True)
    path.write_bytes(DATA[:100])
    store.put(io.BytesIO(DATA))
    assert path.read_bytes() == DATA


class FsyncSpy:
    """Records, in order, what was fsynced and renamed (paths resolved while the fd is open)."""

    def __init__(self, monkeypatch):
        self.events: list[tuple[str, str, str]] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd):
            path = os.readlink(f"/proc/self/fd/{fd}")
            kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
            self.events.append(("fsync", kind, path))
            return real_fsync(fd)

        def replace(src, dst, **kw):
            self.events.append(("replace", str(src), str(dst)))
            return real_replace(src, dst, **kw)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)

    def index(self, event) -> int:
        return self.events.index(event)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name fsynced fds")
def test_file_fsynced_before_rename_and_directory_after(store, monkeypatch):
    spy = FsyncSpy(monkeypatch)
    store.put(io.BytesIO(DATA))
    target = store.path(SHA)
    rename = next(e for e in spy.events if e[0] == "replace")
    assert rename[2] == str(target) and Path(rename[1]).parent == store.root / ".tmp"
    assert spy.index(("fsync", "file", rename[1])) < spy.index(rename)
    assert spy.index(("fsync", "dir", str(target.parent))) > spy.index(rename)
    # New directories are made durable too: the store root in its parent, the fan-out dir in the root.
    assert ("fsync", "dir", str(store.root.parent)) in spy.events
    assert ("fsync", "dir", str(store.root)) in spy.events


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name fsynced fds")
def test_directory_fsynced_even_when_content_already_present(store, monkeypatch):
    # A concurrent put may have renamed it in without its directory fsync yet.
    store.put(io.BytesIO(DATA))
    spy = FsyncSpy(monkeypatch)
    store.put(io.BytesIO(DATA))
    assert ("fsync", "dir", str(store.path(SHA).parent)) in spy.events
    assert not any(e[0] == "replace" for e in spy.events)


def test_exactly_max_bytes_accepted(store):
    assert store.put(io.BytesIO(DATA), max_bytes=len(DATA)).size == len(DATA)


@pytest.mark.parametrize("where", ["put", "store"])
def test_oversize_aborts_and_leaves_nothing(tmp_path, where):
    store = LocalBlobStore(tmp_path / "blobs", max_bytes=len(DATA) - 1 if where == "store" else None)
    with pytest.raises(BlobTooLarge):
        store.put(io.BytesIO(DATA), max_bytes=len(DATA) - 1 if where == "put" else None)
    assert blob_files(store) == [] and temp_files(store) == []
    assert not store.exists(SHA)


class Endless(io.RawIOBase):
    """An upload that never ends; counts what was read from it."""

    def __init__(self):
        self.served = 0

    def readable(self):
        return True

    def readinto(self, b):
        b[:] = b"x" * len(b)
        self.served += len(b)
        return len(b)


def test_oversize_stops_reading_early(store):
    stream = Endless()
    with pytest.raises(BlobTooLarge):
        store.put(stream, max_bytes=5 << 20)
    assert stream.served <= (5 << 20) + (2 << 20)  # the limit plus at most a chunk or so
    assert blob_files(store) == [] and temp_files(store) == []


class Disconnects(io.RawIOBase):
    def __init__(self):
        self.left = 3

    def readable(self):
        return True

    def readinto(self, b):
        if not self.left:
            raise ConnectionResetError("client went away")
        self.left -= 1
        b[:] = b"y" * len(b)
        return len(b)


def test_failed_stream_leaves_nothing(store):
    with pytest.raises(ConnectionResetError):
        store.put(Disconnects())
    assert blob_files(store) == [] and temp_files(store) == []


BAD_KEYS = [
    "",
    "a" * 63,
    "a" * 65,
    "A" * 64,
    "g" * 64,
    "a" * 64 + "\n",
    "../" + "a" * 61,
    "/etc/passwd",
    "a" * 32 + "/" + "a" * 31,
    None,
    12345,
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_refused(store, key, tmp_path):
    store.put(io.BytesIO(DATA))
    for call in (store.open, store.exists, store.size, store.path, lambda k: fetch(store, k, tmp_path / "out")):
        with pytest.raises(BadBlobKey):
            call(key)


def test_absent_blob(store):
    missing = "0" * 64
    assert not store.exists(missing)
    with pytest.raises(BlobNotFound):
        store.open(missing)
    with pytest.raises(BlobNotFound):
        store.size(missing)


def test_concurrent_puts_of_the_same_content_threads(store):
    start = threading.Barrier(16)

    def put(_):
        start.wait()
        return store.put(io.BytesIO(DATA))

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(put, range(16)))
    assert set(results) == {Blob(SHA, len(DATA))}
    assert blob_files(store) == [store.path(SHA)] and store.path(SHA).read_bytes() == DATA
    assert temp_files(store) == []


PUT_SCRIPT = """
import io, sys, time
from grader.blobs import LocalBlobStore
data = open(sys.argv[2], "rb").read()
while time.time() < float(sys.argv[3]):
    time.sleep(0.001)
print(LocalBlobStore(sys.argv[1]).put(io.BytesIO(data)).sha256)
"""


def test_concurrent_puts_of_the_same_content_processes(store, tmp_path):
    # Separate processes, as API replicas would be, all starting at the same moment.
    src = tmp_path / "upload.bin"
    src.write_bytes(DATA)
    go = str(time.time() + 2.0)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PUT_SCRIPT, str(store.root), str(src), go], stdout=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert set(outs) == {SHA}
    assert blob_files(store) == [store.path(SHA)] and store.path(SHA).read_bytes() == DATA
    assert temp_files(store) == []


def test_fetch_copies_and_verifies(store, tmp_path):
    store.put(io.BytesIO(DATA))
    dest = tmp_path / "copy.bin"
    assert fetch(store, SHA, dest) == (SHA, len(DATA)) and dest.read_bytes() == DATA


def test_fetch_detects_corruption_and_leaves_no_copy(store, tmp_path):
    store.put(io.BytesIO(DATA))
    path = store.path(SHA)
    path.chmod(0o600)
    path.write_bytes(b"tampered")
    dest = tmp_path / "copy.bin"
    with pytest.raises(BlobCorrupt):
        fetch(store, SHA, dest)
    assert not dest.exists()


def test_sweep_removes_only_old_temp_files(store):
    store.put(io.BytesIO(b"make dirs"))
    old, fresh = store.root / ".tmp" / "put-old", store.root / ".tmp" / "put-fresh"
    old.write_bytes(b"killed mid-put")
    fresh.write_bytes(b"in progress")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    assert store.sweep_temp() == 1
    assert temp_files(store) == [fresh]


def test_store_deletes_only_through_the_guarded_delete():
    # Receipts promise the file is kept: the only way to delete is ``delete(..., unless_stored_since)``
    # (the orphan collector's, see test_blob_delete.py), never a plain remove.
    import inspect

    assert not any(hasattr(cls, name) for cls in (BlobStore, LocalBlobStore) for name in ("remove", "unlink"))
    for cls in (BlobStore, LocalBlobStore):
        param = inspect.signature(cls.delete).parameters["unless_stored_since"]
        assert param.kind is param.KEYWORD_ONLY and param.default is param.empty
