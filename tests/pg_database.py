"""A fresh, migrated Postgres database for one test session (one per xdist worker), and the fixtures
on it that the gradebook suites share.

A suite's conftest names its own database (a ``pg_url`` fixture over ``migrated_database``) and
imports the fixtures it uses from here: ``engine``; ``session`` (a transaction rolled back after the
test, its commits released savepoints); ``committed`` (real commits seen by other connections, every
table emptied afterwards).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from grader.db.engine import make_engine, session_factory
from grader.db.migrate import upgrade
from grader.tables import metadata

SERVER_URL = os.environ.get("GRADER_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def migrated_database(prefix: str, purpose: str) -> Iterator[str]:
    """Create ``<prefix>_<pid>`` with ``alembic upgrade head``, yield its URL, drop it afterwards.
    Fails (never skips) when Postgres is missing: CI provides it."""
    server = make_url(SERVER_URL)
    name = f"{prefix}_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))  # left by a killed run
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"{purpose} need Postgres at {server.render_as_string(hide_password=True)} "
            f"(set GRADER_TEST_DATABASE_URL; CI starts one): {exc.orig}",
            pytrace=False,
        )
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def empty_tables(engine: Engine, keep: frozenset[str] = frozenset()) -> None:
    """Empty every gradebook table but ``keep``, ids restarted: for suites whose code commits for real."""
    tables = ", ".join(t.name for t in metadata.sorted_tables if t.name not in keep)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


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
