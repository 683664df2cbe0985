"""Webhook tests: a real Postgres (its own fresh, migrated database per test session, like
tests/db), real commits seen by other connections (tables emptied after each test), and a real
HTTP receiver on loopback (``http.server`` in a thread) that records what it was sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg_database import committed, engine, migrated_database  # noqa: F401 (fixtures of this suite)
from sqlalchemy.orm import Session, sessionmaker
from webhook_kit import Receiver


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with migrated_database("grader_webhooks_test", "the webhook tests") as url:
        yield url


@pytest.fixture
def sessions(committed: sessionmaker[Session]) -> sessionmaker[Session]:  # noqa: F811 (the fixture)
    """Sessions whose commits are real (several connections, threads). Emptied afterwards."""
    return committed


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
