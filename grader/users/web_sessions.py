"""Server-side dashboard sessions: start one at sign-in, find it from the cookie, end it.

A session ends when idle for ``web_session_idle_minutes``, ``web_session_max_hours`` after sign-in
whatever the activity, or at sign-out. Times are the database's clock (``db_now``), as for leases.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.db.clock import db_now
from grader.users.models import User
from grader.users.web_session_models import WebSession

COOKIE_NAME = "grader_session"
# How stale last_seen_at may get: one write a minute per session, not one per request.
TOUCH_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    idle: dt.timedelta
    absolute: dt.timedelta


@dataclass(frozen=True)
class LiveSession:
    row: WebSession
    user: User


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start_session(
    *, session: Session, user: User, provider: str, policy: SessionPolicy, now: dt.datetime | None = None
) -> tuple[str, WebSession]:
    """A new session for ``user`` (commits). Returns (cookie secret, row): the secret is never stored."""
    now = now or db_now(session)
    secret = secrets.token_urlsafe(32)
    row = WebSession(
        token_sha256=_digest(secret),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        provider=provider,
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.absolute,
    )
    session.add(row)
    session.flush()
    record_event(
        session=session,
        actor_id=user.id,
        action="web.sign_in",
        subject_type="user",
        subject_id=user.id,
        details={"provider": provider, "session_id": row.id},
    )
    session.commit()
    return secret, row


def find_session(
    *, session: Session, secret: str | None, policy: SessionPolicy, now: dt.datetime | None = None
) -> LiveSession | None:
    """The live session a cookie names (and mark it seen), or None: unknown, expired or signed out."""
    if not secret or len(secret) > 100:
        return None
    found = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_sha256 == _digest(secret))
    ).first()
    if found is None:
        return None
    row, user = found
    now = now or db_now(session)
    if row.revoked_at is not None or now >= row.expires_at or now - row.last_seen_at >= policy.idle or not user.active:
        return None
    if now - row.last_seen_at >= TOUCH_RESOLUTION:
        session.execute(
            update(WebSession)
            .where(WebSession.id == row.id)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return LiveSession(row, user)


def end_session(*, session: Session, row: WebSession) -> None:
    now = db_now(session)
    session.execute(
        update(WebSession)
        .where(WebSession.id == row.id, WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    record_event(
        session=session,
        actor_id=row.user_id,
        action="web.sign_out",
        subject_type="user",
        subject_id=row.user_id,
        details={"session_id": row.id},
    )
    session.commit()
