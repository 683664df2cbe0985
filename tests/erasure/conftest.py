"""The erasure suite: a fresh world per test (tests/backup_world.py) on this suite's own Postgres
database, emptied after each test, with a blob store of the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from backup_world import Service, World, running, seed_world, settings_for, write_rubrics
from pg_database import empty_tables, migrated_database

from grader.db.engine import session_factory


@pytest.fixture(scope="session")
def erasure_pg_url() -> Iterator[str]:
    with migrated_database("grader_erasure_test", "the erasure tests") as url:
        yield url


@pytest.fixture(scope="session")
def rubrics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rubrics(tmp_path_factory.mktemp("rubrics"))


@pytest.fixture
def service(erasure_pg_url: str, rubrics: Path, tmp_path: Path) -> Iterator[Service]:
    with running(settings_for(erasure_pg_url, rubrics, tmp_path)) as svc:
        try:
            yield svc
        finally:
            empty_tables(svc.engine)


@pytest.fixture
def world(service: Service) -> World:
    return seed_world(service.client, session_factory(service.engine), service.settings)
