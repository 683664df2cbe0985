"""``take_snapshot``: the gradebook dumped in one snapshot, then the blobs that dump references.

Order matters: the dump first, then the blobs. A blob is never deleted while a row references it
(``grader.runs.blob_gc``), so every blob the dump's rows point at is still in the store when it is
copied; blobs stored after the snapshot belong to rows the dump does not hold and are not needed.
The keys are read in the dump's own snapshot: on Postgres a REPEATABLE READ transaction exports
its snapshot and pg_dump runs inside it (``--snapshot``); on SQLite the backup API makes a
consistent copy and the keys are read from the copy.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import tempfile
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Connection, create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from grader.backup import pg_tools
from grader.backup.manifest import DUMP_FILES, Manifest, SnapshotError, blob_path, file_sha256
from grader.blobs.base import BlobCorrupt, BlobNotFound, BlobStore, fetch
from grader.runs.blob_gc import REFERENCES


def take_snapshot(database_url: str, store: BlobStore, out: Path) -> Manifest:
    """Write a snapshot of the gradebook at ``database_url`` and the blobs it references into
    ``out`` (a new or empty folder). The manifest is written last."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SnapshotError(f"{out} exists and is not an empty folder: a snapshot goes into a new one")
    out.mkdir(parents=True, exist_ok=True)
    backend = make_url(database_url).get_backend_name()
    if backend == "postgresql":
        manifest = _dump_postgres(database_url, out)
    elif backend == "sqlite":
        manifest = _dump_sqlite(database_url, out)
    else:
        raise SnapshotError(f"cannot back up a {backend} gradebook: Postgres and SQLite only")
    manifest.blobs = copy_blobs(store, out, manifest.blobs)
    manifest.write(out)
    return manifest


def _dump_postgres(url: str, out: Path) -> Manifest:
    dump_file = out / DUMP_FILES["postgresql"]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                # The first statement fixes the transaction's snapshot; pg_dump joins it while it lasts.
                snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                taken = conn.execute(text("SELECT now()")).scalar_one()
                pg_tools.dump(url, dump_file, snapshot_id)
                facts = _facts(conn)
    finally:
        engine.dispose()
    return _manifest("postgresql", dump_file, taken, *facts)


def _dump_sqlite(url: str, out: Path) -> Manifest:
    source = make_url(url).database
    if not source or source == ":memory:" or not Path(source).is_file():
        raise SnapshotError(f"no SQLite gradebook at {source!r}")
    dump_file = out / DUMP_FILES["sqlite"]
    taken = dt.datetime.now(dt.UTC)
    src = sqlite3.connect(f"{Path(source).resolve().as_uri()}?mode=ro", uri=True)  # the path %-encoded
    dst = sqlite3.connect(dump_file)
    try:
        src.backup(dst)  # one consistent copy, even while the service writes
    finally:
        dst.close()
        src.close()
    os.chmod(dump_file, 0o600)  # marks and token hashes: as private as the gradebook itself
    engine = create_engine(f"sqlite:///{dump_file}")
    try:
        with engine.connect() as conn:
            facts = _facts(conn)
    finally:
        engine.dispose()
    return _manifest("sqlite", dump_file, taken, *facts)


def _facts(conn: Connection) -> tuple[str | None, dict[str, int], dict[str, int]]:
    """The schema revision, rows per table and referenced blob keys, as ``conn`` sees them."""
    tables = sorted(inspect(conn).get_table_names())
    counts = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
    revision = None
    if "alembic_version" in tables:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    keys: set[str] = set()
    for column in REFERENCES:
        keys.update(k for k in conn.execute(select(column).where(column.is_not(None)).distinct()).scalars() if k)
    return revision, counts, dict.fromkeys(sorted(keys), 0)


def _manifest(
    backend: str,
    dump_file: Path,
    taken: dt.datetime,
    revision: str | None,
    counts: dict[str, int],
    keys: dict[str, int],
) -> Manifest:
    sha, size = file_sha256(dump_file)
    return Manifest(
        created_at=taken.astimezone(dt.UTC).isoformat(),
        backend=backend,
        schema_revision=revision,
        dump_file=dump_file.name,
        dump_sha256=sha,
        dump_bytes=size,
        tables=counts,
        blobs=keys,
    )


def copy_blobs(store: BlobStore, out: Path, keys: Iterable[str]) -> dict[str, int]:
    """Copy each blob into the snapshot, checking its hash on the way; sha256 -> size."""
    sizes: dict[str, int] = {}
    missing: list[str] = []
    for key in keys:
        dest = blob_path(out, key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
        os.close(fd)
        try:
            blob = fetch(store, key, Path(tmp))
        except BlobNotFound:
            missing.append(key)
            Path(tmp).unlink(missing_ok=True)
            continue
        except BlobCorrupt as exc:
            Path(tmp).unlink(missing_ok=True)
            raise SnapshotError(f"the blob store is damaged: {exc}") from None
        os.replace(tmp, dest)
        sizes[key] = blob.size
    if missing:
        raise SnapshotError(
            f"{len(missing)} blobs the gradebook references are missing from the store "
            f"(first: {', '.join(missing[:3])}): the store is damaged; no snapshot was written"
        )
    return sizes
