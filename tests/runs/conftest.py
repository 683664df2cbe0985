"""The queue's tests run against a real Postgres, like tests/db: one migrated database per test
session (per xdist worker), each test inside a transaction rolled back afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg_database import committed, engine, migrated_database, session  # noqa: F401 (fixtures of this suite)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with migrated_database("grader_runs_test", "the queue tests") as url:
        yield url
