"""A fresh, migrated Postgres database for one test session (one per xdist worker)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

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
