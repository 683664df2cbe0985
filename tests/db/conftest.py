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
from pg_database import empty_tables, migrated_database
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from grader.db.engine import make_engine, session_factory


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with migrated_database("grader_test", "the gradebook tests") as url:
        yield url


@pytest.fixture(scope="session")
def engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@pytest.fixture
def committed(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions whose commits are real, for tests with several connections. Emptied afterwards."""
    yield session_factory(engine)
    empty_tables(engine)
