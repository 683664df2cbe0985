"""The overview's change log and kept rows, against a real Postgres with real commits: the log is
written by triggers in each writer's transaction and read by other connections, so every test
commits for real (``committed``) and the tables are emptied after it.

Each xdist worker has its own database (``grader_marking_test_<pid>``), migrated with Alembic.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg_database import empty_tables, migrated_database
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from grader.db.engine import make_engine, session_factory


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    with migrated_database("grader_marking_test", "the marking tests") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def committed(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield session_factory(engine)
    empty_tables(engine)
