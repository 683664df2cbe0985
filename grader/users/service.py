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
from grader.db.dml import rowcount
from grader.users.models import ApiToken, Role, TokenView, User
from grader.users.tokens import TOKEN_PREFIX, hash_token, new_token

# What a token may do. A token holds a subset; its user's role still limits it (a student token
# with every scope is still a student). "*" stands for every scope.
SCOPES = ("submit", "read", "mark", "release", "roster", "export")
ALL_SCOPES = "*"
# A token's view when none is asked for: the safe one for accounts that relay to students (a
# service account is a course system: it sees what each student would), the full one for markers.
DEFAULT_VIEW = {
    Role.student: TokenView.student,
    Role.service: TokenView.student,
    Role.gta: TokenView.staff,
    Role.lecturer: TokenView.staff,
}
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

    @property
    def student_view(self) -> bool:
        """Whether this caller reads marks as the student concerned would (the visibility table in
        docs/security.md): every student, and a service account's token unless it has the staff view."""
        if self.user.role is Role.service:
            return self.token.view is not TokenView.staff
        return self.user.role is Role.student


def create_user(
    *,
    session: Session,
    username: str,
    role: Role,
    name: str | None = None,
    email: str | None = None,
    actor_id: int | None = None,
) -> User:
    if session.scalars(select(User).where(User.username == username)).first() is not None:
        raise UserExists(f"user {username!r} already exists")
    user = User(username=username, name=name or username, email=email, role=role)
    session.add(user)
    session.flush()
    record_event(
        session=session,
        actor_id=actor_id,
        action="user.add",
        subject_type="user",
        subject_id=user.id,
        details={"username": username, "role": role.value},
    )
    session.commit()
    return user


def get_user(*, session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()


def create_token(
    *,
    session: Session,
    user: User,
    name: str = "cli",
    scopes: Sequence[str] = (ALL_SCOPES,),
    expires_at: dt.datetime | None = None,
    actor_id: int | None = None,
    view: TokenView | str | None = None,
) -> tuple[str, ApiToken]:
    """A new token for ``user``. Returns (secret, row): the secret is shown once and never stored.

    ``view``: ``student`` or ``staff`` (see ``TokenView``); None takes the role's default
    (``DEFAULT_VIEW``). Only a service account chooses: a student's token has the student view,
    a GTA's or lecturer's the staff view."""
    unknown = sorted(set(scopes) - {*SCOPES, ALL_SCOPES})
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(unknown)} (known: {', '.join(SCOPES)}, {ALL_SCOPES})")
    view = token_view(user.role, view)
    secret = new_token()
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_sha256=hash_token(secret),
        scopes=list(scopes),
        expires_at=expires_at,
        view=view,
    )
    session.add(token)
    session.flush()
    record_event(
        session=session,
        actor_id=actor_id,
        action="token.create",
        subject_type="user",
        subject_id=user.id,
        details={"token_id": token.id, "name": name, "scopes": list(scopes), "view": view.value},
    )
    session.commit()
    return secret, token


def token_view(role: Role, view: TokenView | str | None) -> TokenView:
    """The view a new token of this role gets: the one asked for, or the role's default."""
    if view is None:
        return DEFAULT_VIEW[role]
    try:
        view = TokenView(view)
    except ValueError:
        raise ValueError(f"unknown view {view!r} (known: {', '.join(v.value for v in TokenView)})") from None
    if role is Role.student and view is not TokenView.student:
        raise ValueError("a student's token can only have the student view.")
    if role in (Role.gta, Role.lecturer) and view is not TokenView.staff:
        # Markers' tools show everything; a filtered relay is a service account's job.
        raise ValueError("the student view is for service accounts; a GTA's or lecturer's token has the staff view.")
    return view


def authenticate(*, session: Session, secret: str, now: dt.datetime | None = None) -> TokenOwner | None:
    """The active user and live token a bearer secret names, or None."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
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
    written = rowcount(
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == token.id, or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= stale))
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    session.commit()
    if written:
        set_committed_value(token, "last_used_at", now)  # the loaded row, without a second write
