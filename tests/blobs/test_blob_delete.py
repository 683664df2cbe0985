"""LocalBlobStore's listing, ages and guarded delete: what the orphan collector relies on."""

import hashlib
import io
import os
import threading
import time

import pytest

from grader.blobs import BadBlobKey, BlobNotFound, LocalBlobStore

DAY = 86400


@pytest.fixture
def store(tmp_path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def put(store: LocalBlobStore, data: bytes, age_s: float = 0) -> str:
    key = store.put(io.BytesIO(data)).sha256
    if age_s:
        then = time.time() - age_s
        os.utime(store.path(key), (then, then))
    return key


def test_keys_lists_every_blob_and_nothing_else(store):
    assert list(store.keys()) == []  # no root yet
    keys = {put(store, f"blob {n}".encode()) for n in range(5)}
    (store.root / ".tmp" / "put-leftover").write_bytes(b"half a put")
    (store.root / "ab").mkdir(exist_ok=True)
    (store.root / "ab" / "README").write_text("not a blob")
    assert sorted(store.keys()) == sorted(keys)


def test_modified_at_is_when_the_content_was_last_stored(store):
    key = put(store, b"content", age_s=3 * DAY)
    assert store.modified_at(key) < time.time() - 2 * DAY
    inode = store.path(key).stat().st_ino
    store.put(io.BytesIO(b"content"))  # stored again: fresh, yet not rewritten
    assert store.modified_at(key) > time.time() - 60 and store.path(key).stat().st_ino == inode
    with pytest.raises(BlobNotFound):
        store.modified_at(hashlib.sha256(b"absent").hexdigest())
    with pytest.raises(BadBlobKey):
        store.modified_at("../../etc/passwd")


def test_delete_removes_an_old_blob_and_keeps_a_fresh_one(store):
    old, fresh = put(store, b"old", age_s=2 * DAY), put(store, b"fresh")
    cutoff = time.time() - DAY
    assert store.delete(old, unless_stored_since=cutoff) is True
    assert store.delete(fresh, unless_stored_since=cutoff) is False
    assert not store.exists(old) and store.exists(fresh)
    assert store.delete(old, unless_stored_since=cutoff) is False  # already gone
    assert list((store.root / ".tmp").iterdir()) == []  # nothing left aside


def test_a_put_touching_the_blob_before_delete_moves_it_keeps_it(store, monkeypatch):
    """The race: the collector saw an old blob; a put of the same bytes touches it; then the
    collector moves it aside. Delete must notice the fresh mtime and put it back."""
    key = put(store, b"same bytes", age_s=2 * DAY)
    real_rename = os.rename

    def put_first(src, dst):
        store.put(io.BytesIO(b"same bytes"))  # lands between the collector's look and its move
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", put_first)
    assert store.delete(key, unless_stored_since=time.time() - DAY) is False
    with store.open(key) as fh:
        assert fh.read() == b"same bytes"


def test_a_put_after_delete_moved_the_blob_stores_its_own_copy(store, monkeypatch):
    key = put(store, b"same bytes", age_s=2 * DAY)
    real_utime = os.utime
    moved = threading.Event()

    def utime_after_move(path, *args, **kwargs):
        if not moved.is_set():  # the put saw the file, then the collector moved it away
            moved.set()
            assert store.delete(key, unless_stored_since=time.time() - DAY) is True
        return real_utime(path, *args, **kwargs)

    monkeypatch.setattr(os, "utime", utime_after_move)
    assert store.put(io.BytesIO(b"same bytes")).sha256 == key
    assert moved.is_set()
    with store.open(key) as fh:  # the put returned: its blob is there
        assert fh.read() == b"same bytes"
