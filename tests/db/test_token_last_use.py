"""``authenticate`` stamps a token's ``last_used_at``, at most once a minute (not on every request)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from grader.users.models import ApiToken, Role
from grader.users.service import _note_use, authenticate, create_token, create_user

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def writes(engine: Engine) -> Iterator[list[str]]:
    """The UPDATEs of api_tokens.last_used_at sent while the test runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS SET LAST_USED_AT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def stored_last_use(session: Session, token_id: int) -> dt.datetime | None:
    session.expire_all()
    return session.scalars(select(ApiToken.last_used_at).where(ApiToken.id == token_id)).one()


def test_last_use_is_written_at_most_once_a_minute(session: Session, writes: list[str]):
    user = create_user(session=session, username="ada", role=Role.student)
    secret, token = create_token(session=session, user=user)
    assert token.last_used_at is None

    owner = authenticate(session=session, secret=secret, now=T0)
    assert owner is not None and owner.token.last_used_at == T0 and len(writes) == 1
    assert stored_last_use(session, token.id) == T0

    for seconds in (1, 30, 59):  # requests within the minute write nothing
        assert authenticate(session=session, secret=secret, now=T0 + dt.timedelta(seconds=seconds)) is not None
    assert len(writes) == 1 and stored_last_use(session, token.id) == T0

    later = T0 + dt.timedelta(seconds=61)
    assert authenticate(session=session, secret=secret, now=later).token.last_used_at == later
    assert len(writes) == 2 and stored_last_use(session, token.id) == later


def test_a_stale_copy_of_the_token_does_not_write_twice(session: Session, writes: list[str]):
    """Two requests that loaded the token before either stamped it: the UPDATE's own condition
    lets only the first write."""
    user = create_user(session=session, username="bea", role=Role.student)
    secret, token = create_token(session=session, user=user)
    authenticate(session=session, secret=secret, now=T0)
    session.expire_all()
    stale = session.get(ApiToken, token.id)
    stale.__dict__["last_used_at"] = None  # as loaded by a request that started before the stamp
    _note_use(session, stale, T0 + dt.timedelta(seconds=5))
    assert len(writes) == 2  # sent, but it matched no row
    assert stored_last_use(session, token.id) == T0


def test_refused_tokens_are_not_stamped(session: Session, writes: list[str]):
    user = create_user(session=session, username="cy", role=Role.student)
    secret, token = create_token(session=session, user=user)
    token.revoked_at = T0 - dt.timedelta(days=1)
    session.commit()
    assert authenticate(session=session, secret=secret, now=T0) is None
    assert authenticate(session=session, secret="grd_not-a-token", now=T0) is None
    assert writes == [] and stored_last_use(session, token.id) is None
