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

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grader.db.engine import make_engine, session_factory  # noqa: E402
from grader.db.migrate import upgrade  # noqa: E402
from grader.db.models import metadata  # noqa: E402

SERVER_URL = os.environ.get("GRADER_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    server = make_url(SERVER_URL)
    name = f"grader_test_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))  # left by a killed run
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"the gradebook tests need Postgres at {server.render_as_string(hide_password=True)} "
            f"(set GRADER_TEST_DATABASE_URL; CI starts one): {exc.orig}", pytrace=False)
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
    tables = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
