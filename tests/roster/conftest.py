"""Roster tests against a real Postgres: each xdist worker has its own migrated database
(``grader_roster_test_<pid>``); the tables are emptied after each test, as the code commits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg_database import empty_tables, migrated_database
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from grader.db.engine import make_engine, session_factory


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    with migrated_database("grader_roster_test", "the roster tests") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def committed(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield session_factory(engine)
    empty_tables(engine)
