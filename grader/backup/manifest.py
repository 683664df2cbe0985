"""A snapshot's manifest: what it holds, written last (a folder without one is an unfinished snapshot).

Layout of a snapshot folder::

    manifest.json            this file
    gradebook.dump           Postgres: pg_dump's custom format   (or)
    gradebook.sqlite         SQLite: a copy made by the sqlite backup API
    blobs/<2 hex>/<sha256>   every blob a row of the dump references, named by its hash
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

FORMAT = "grader-snapshot/1"
MANIFEST = "manifest.json"
BLOBS = "blobs"
DUMP_FILES = {"postgresql": "gradebook.dump", "sqlite": "gradebook.sqlite"}


class SnapshotError(Exception):
    """A snapshot that cannot be taken or read: the message says why, in a sentence."""


@dataclass
class Manifest:
    created_at: str  # ISO 8601, UTC: when the dump's snapshot was taken
    backend: str  # postgresql or sqlite
    schema_revision: str | None  # alembic_version in the dump
    dump_file: str
    dump_sha256: str
    dump_bytes: int
    tables: dict[str, int]  # rows per table, as of the snapshot
    blobs: dict[str, int] = field(default_factory=dict)  # sha256 -> size of every referenced blob
    format: str = FORMAT

    def write(self, folder: Path) -> None:
        tmp = folder / (MANIFEST + ".tmp")
        with open(tmp, "w") as out:
            json.dump(asdict(self), out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, folder / MANIFEST)  # present means complete

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        if not path.is_file():
            raise SnapshotError(f"{folder} holds no {MANIFEST}: not a snapshot, or one that never finished")
        try:
            data = json.loads(path.read_text())
            manifest = cls(**data)
        except (ValueError, TypeError) as exc:
            raise SnapshotError(f"{path} is not a snapshot manifest: {exc}") from None
        if manifest.format != FORMAT:
            raise SnapshotError(f"{path} is in format {manifest.format!r}; this version reads {FORMAT!r}")
        if manifest.backend not in DUMP_FILES or manifest.dump_file != DUMP_FILES[manifest.backend]:
            raise SnapshotError(f"{path} names an unknown database dump ({manifest.backend}, {manifest.dump_file})")
        return manifest


def blob_path(folder: Path, sha256: str) -> Path:
    return folder / BLOBS / sha256[:2] / sha256


def file_sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
