"""The backup suite's world: a source gradebook (its own Postgres database and blob store) seeded
through the real app, snapshotted once with ``grader backup`` and restored once with ``grader
restore`` into a fresh database and a fresh blob directory; the tests compare the two services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from backup_world import (
    Service,
    World,
    cli,
    empty_database,
    running,
    seed_world,
    settings_for,
    table_contents,
    write_rubrics,
)
from pg_database import migrated_database

from grader.db.engine import make_engine, session_factory


@dataclass
class Pair:
    source: Service
    restored: Service
    world: World
    snapshot: Path
    source_tables: dict[str, list[tuple]]  # right after the backup
    restored_tables: dict[str, list[tuple]]  # right after the restore, before its service started


@pytest.fixture(scope="module")
def rubrics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rubrics(tmp_path_factory.mktemp("rubrics"))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, rubrics: Path) -> Iterator[Pair]:
    """The source service seeded and snapshotted, and the service restored from the snapshot."""
    with ExitStack() as stack:
        src_url = stack.enter_context(migrated_database("grader_backup_src", "the backup tests"))
        source = stack.enter_context(running(settings_for(src_url, rubrics, tmp_path_factory.mktemp("source"))))
        world = seed_world(source.client, session_factory(source.engine), source.settings)
        snapshot = tmp_path_factory.mktemp("snapshots") / "night"
        r = cli(source.settings, "backup", str(snapshot))
        assert r.exit_code == 0, r.output
        source_tables = table_contents(source.engine)
        dst_url = stack.enter_context(empty_database("grader_backup_dst"))
        target = settings_for(dst_url, rubrics, tmp_path_factory.mktemp("restored"))
        r = cli(target, "restore", str(snapshot))
        assert r.exit_code == 0, r.output
        engine = make_engine(dst_url)
        restored_tables = table_contents(engine)
        engine.dispose()
        restored = stack.enter_context(running(target))
        yield Pair(source, restored, world, snapshot, source_tables, restored_tables)
