"""The queue's tests run against a real Postgres, like tests/db: one migrated database per test
session (per xdist worker), each test inside a transaction rolled back afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg_database import migrated_database
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from grader.db.engine import make_engine


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with migrated_database("grader_runs_test", "the queue tests") as url:
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
