"""``restore_snapshot``: a service rebuilt from a snapshot, into an empty database and an empty store.

Everything is checked before anything is written: the dump's hash and every blob's against the
manifest, and that both targets are empty (a restore never merges into a live gradebook). After
the restore, every table's row count is compared with the manifest's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from grader.backup import pg_tools
from grader.backup.manifest import Manifest, SnapshotError, blob_path, file_sha256
from grader.blobs.base import BlobStore
from grader.db.engine import private_sqlite_file
from grader.db.migrate import knows_revision


class RestoreRefused(SnapshotError):
    """The target is not empty, or the snapshot does not match its manifest: nothing was written."""


def restore_snapshot(snapshot: Path, database_url: str, store: BlobStore) -> Manifest:
    snapshot = Path(snapshot)
    manifest = Manifest.read(snapshot)
    verify_snapshot(snapshot, manifest)
    if manifest.schema_revision is not None and not knows_revision(manifest.schema_revision):
        raise RestoreRefused(
            f"the snapshot's schema is at revision {manifest.schema_revision}, which this version of grader does "
            "not know: restore it with the version that took it"
        )
    backend = make_url(database_url).get_backend_name()
    if backend != manifest.backend:
        raise RestoreRefused(f"the snapshot is of a {manifest.backend} gradebook; the target is {backend}")
    if next(iter(store.keys()), None) is not None:
        raise RestoreRefused("the blob store is not empty: restore into a fresh blob directory")
    _require_empty_database(database_url, backend)
    dump_file = snapshot / manifest.dump_file
    if backend == "postgresql":
        pg_tools.restore(database_url, dump_file)
    else:
        target = Path(make_url(database_url).database or "")
        private_sqlite_file(target)  # created 0600, as the service creates its own
        with open(dump_file, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    for key in manifest.blobs:
        with open(blob_path(snapshot, key), "rb") as f:
            stored = store.put(f)
        if stored.sha256 != key:  # verified above; a disk that changed it since is caught here
            raise SnapshotError(f"blob {key} was read back as {stored.sha256} while restoring")
    _check_counts(database_url, manifest)
    return manifest


def verify_snapshot(snapshot: Path, manifest: Manifest) -> None:
    """Every file the manifest names is there and hashes to what it says."""
    dump_file = snapshot / manifest.dump_file
    if not dump_file.is_file():
        raise RestoreRefused(f"the snapshot's database dump {dump_file} is missing")
    if file_sha256(dump_file) != (manifest.dump_sha256, manifest.dump_bytes):
        raise RestoreRefused(f"{dump_file} does not match the manifest's sha256: the snapshot is damaged")
    bad = []
    for key, size in manifest.blobs.items():
        path = blob_path(snapshot, key)
        if not path.is_file() or file_sha256(path) != (key, size):
            bad.append(key)
    if bad:
        raise RestoreRefused(
            f"{len(bad)} of the snapshot's blobs are missing or do not hash to their names "
            f"(first: {', '.join(bad[:3])}): the snapshot is damaged; nothing was restored"
        )


def _require_empty_database(url: str, backend: str) -> None:
    if backend == "sqlite":
        path = make_url(url).database
        if not path or path == ":memory:":
            raise RestoreRefused("restore into a SQLite file, not an in-memory database")
        if not Path(path).exists() or Path(path).stat().st_size == 0:
            return
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                found = conn.execute(
                    text(
                        "SELECT count(*) FROM information_schema.tables "
                        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                    )
                ).scalar_one()
            else:
                found = len(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    if found:
        shown = make_url(url).render_as_string(hide_password=True)
        raise RestoreRefused(f"the database {shown} is not empty ({found} tables): restore into a fresh one")


def _check_counts(url: str, manifest: Manifest) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            for table, expected in manifest.tables.items():
                got = conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
                if got != expected:
                    raise SnapshotError(f"restored table {table} has {got} rows; the snapshot had {expected}")
    finally:
        engine.dispose()
