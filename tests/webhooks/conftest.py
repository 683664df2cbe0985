"""Webhook tests: a real Postgres (its own fresh, migrated database per test session, like
tests/db), real commits seen by other connections (tables emptied after each test), and a real
HTTP receiver on loopback (``http.server`` in a thread) that records what it was sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg_database import empty_tables, migrated_database
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from webhook_kit import Receiver

from grader.db.engine import make_engine, session_factory


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with migrated_database("grader_webhooks_test", "the webhook tests") as url:
        yield url


@pytest.fixture(scope="session")
def engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions whose commits are real (several connections, threads). Emptied afterwards."""
    yield session_factory(engine)
    empty_tables(engine)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
