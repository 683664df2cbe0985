"""Engines and sessions for the gradebook URL in settings (``settings.database_url``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000  # writers queue for the lock instead of failing at once


def make_engine(url: str, *, for_migrations: bool = False, **kwargs: Any) -> Engine:
    """An engine for a SQLAlchemy URL. SQLite gets the pragmas the gradebook relies on.

    ``for_migrations`` leaves SQLite's foreign keys off: batch migrations copy and drop tables,
    which enforcing foreign keys would turn into cascades or failures.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # pre-ping: a restarted Postgres leaves dead pooled connections behind.
        return create_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        private_sqlite_file(Path(parsed.database))
    engine = create_engine(url, **kwargs)
    _configure_sqlite(engine, foreign_keys=not for_migrations)
    return engine


def private_sqlite_file(path: Path) -> None:
    """Create the gradebook file readable by its owner only (0600), in folders we create 0700.

    It holds marks, token hashes and sealed webhook secrets. SQLite would create it under the
    process's umask (usually world-readable); it gives its -wal and -shm files the database file's
    mode, so creating the file first is enough. A file left world-readable by an older version is
    tightened; folders that already exist are left as they are (they may be shared, like /var/lib).
    """
    missing = []
    for folder in (path.parent, *path.parent.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        info = os.fstat(fd)
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if companion.stat().st_mode & 0o077 and companion.stat().st_uid == os.geteuid():
                os.chmod(companion, 0o600)
        except FileNotFoundError:
            pass


def _configure_sqlite(engine: Engine, *, foreign_keys: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, issue BEGIN: otherwise SAVEPOINTs misbehave.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # WAL: the API reads while a worker writes. synchronous stays FULL (the default):
        # a receipt promises the row survives a power cut.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for services. Objects stay readable after commit (services return them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
