"""Accounts and API tokens: create them, and find who a bearer token belongs to.

Mutating functions commit before they return.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from grader.audit.service import record_event
from grader.db.clock import db_now
from grader.users.models import ApiToken, Role, User
from grader.users.tokens import TOKEN_PREFIX, hash_token, new_token

# What a token may do. A token holds a subset; its user's role still limits it (a student token
# with every scope is still a student). "*" stands for every scope.
SCOPES = ("submit", "read", "mark", "release", "roster", "export")
ALL_SCOPES = "*"
# How stale a token's last_used_at may get: one write a minute per token, not one per request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class UserExists(Exception):
    pass


@dataclass(frozen=True)
class TokenOwner:
    user: User
    token: ApiToken

    def allows(self, scope: str) -> bool:
        scopes = self.token.scopes or []
        return ALL_SCOPES in scopes or scope in scopes


def create_user(
    *, session: Session, username: str, role: Role, name: str | None = None, email: str | None = None,
    actor_id: int | None = None,
) -> User:
    if session.scalars(select(User).where(User.username == username)).first() is not None:
        raise UserExists(f"user {username!r} already exists")
    user = User(username=username, name=name or username, email=email, role=role)
    session.add(user)
    session.flush()
    record_event(session=session, actor_id=actor_id, action="user.add", subject_type="user", subject_id=user.id,
                 details={"username": username, "role": role.value})
    session.commit()
    return user


def get_user(*, session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()


def create_token(
    *, session: Session, user: User, name: str = "cli", scopes: Sequence[str] = (ALL_SCOPES,),
    expires_at: dt.datetime | None = None, actor_id: int | None = None,
) -> tuple[str, ApiToken]:
    """A new token for ``user``. Returns (secret, row): the secret is shown once and never stored."""
    unknown = sorted(set(scopes) - {*SCOPES, ALL_SCOPES})
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(unknown)} (known: {', '.join(SCOPES)}, {ALL_SCOPES})")
    secret = new_token()
    token = ApiToken(user_id=user.id, name=name, token_sha256=hash_token(secret), scopes=list(scopes),
                     expires_at=expires_at)
    session.add(token)
    session.flush()
    record_event(session=session, actor_id=actor_id, action="token.create", subject_type="user",
                 subject_id=user.id, details={"token_id": token.id, "name": name, "scopes": list(scopes)})
    session.commit()
    return secret, token


def authenticate(*, session: Session, secret: str, now: dt.datetime | None = None) -> TokenOwner | None:
    """The active user and live token a bearer secret names, or None."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    row = session.execute(
        select(ApiToken, User).join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_sha256 == hash_token(secret))
    ).first()
    if row is None:
        return None
    token, user = row
    now = now or db_now(session)
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now) or not user.active:
        return None
    _note_use(session, token, now)
    return TokenOwner(user=user, token=token)


def _note_use(session: Session, token: ApiToken, now: dt.datetime) -> None:
    """Stamp ``last_used_at`` unless it is under a minute old. The condition is in the UPDATE, so
    concurrent requests with one token still write once."""
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    stale = now - LAST_USED_RESOLUTION
    written = session.execute(
        update(ApiToken).where(ApiToken.id == token.id,
                               or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= stale))
        .values(last_used_at=now).execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    if written:
        set_committed_value(token, "last_used_at", now)  # the loaded row, without a second write
