"""The embedded gradebook (SQLite) is private to the service's user: the database file and its
-wal/-shm companions 0600, the folders created for it 0700, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from grader.db.engine import make_engine
from grader.db.migrate import upgrade


@pytest.fixture
def open_umask():
    old = os.umask(0o022)  # the usual default: files 0644, folders 0755
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_gradebook_and_its_folders_are_private(tmp_path: Path, open_umask):
    db = tmp_path / "var" / "state" / "grader.db"
    url = f"sqlite:///{db}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:  # a write, so the -wal and -shm files exist
            conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
            conn.execute(text("INSERT INTO scratch VALUES (1)"))
        files = [db, db.with_name("grader.db-wal"), db.with_name("grader.db-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: oct(mode(f)) for f in files} == {f.name: oct(0o600) for f in files}
        assert oct(mode(tmp_path / "var")) == oct(0o700) and oct(mode(tmp_path / "var" / "state")) == oct(0o700)
    finally:
        engine.dispose()


def test_a_world_readable_gradebook_from_before_is_tightened(tmp_path: Path, open_umask):
    db = tmp_path / "grader.db"
    db.touch(mode=0o644)
    os.chmod(db, 0o644)
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert oct(mode(db)) == oct(0o600)
    finally:
        engine.dispose()
