"""The gradebook tests run against a real Postgres.

Each test session (each xdist worker) creates its own database, ``grader_test_<pid>``, builds the
schema with ``alembic upgrade head`` (the migrations, not ``create_all``), and drops it at the end.
Each test runs inside a transaction rolled back afterwards (its commits release savepoints).
Tests of concurrency need real commits seen by other connections: they use ``committed`` and the
tables are emptied after them.

Postgres missing is a failure, never a skip: set GRADER_TEST_DATABASE_URL (any database on the
server; it is only used to create and drop the test database), default the local one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg_database import committed, engine, migrated_database, session  # noqa: F401 (fixtures of this suite)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with migrated_database("grader_test", "the gradebook tests") as url:
        yield url
