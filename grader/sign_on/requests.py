"""Sign-ins under way, kept server-side between the redirect to the provider and its callback."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.orm import Session

from grader.db.clock import db_now
from grader.sign_on.models import SignOnRequest

# Long enough to type a password and approve a second factor; short enough that a state found in a
# log or a browser history is useless.
REQUEST_TTL = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Pending:
    nonce: str
    code_verifier: str
    next_url: str


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def remember(*, session: Session, state: str, nonce: str, code_verifier: str, next_url: str) -> None:
    """Keep a new sign-in's secrets (commits); sign-ins left unfinished are dropped here too."""
    now = db_now(session)
    session.execute(delete(SignOnRequest).where(SignOnRequest.expires_at <= now))
    session.add(
        SignOnRequest(
            state_sha256=_digest(state),
            nonce=nonce,
            code_verifier=code_verifier,
            next_url=next_url,
            created_at=now,
            expires_at=now + REQUEST_TTL,
        )
    )
    session.commit()


def take(*, session: Session, state: str) -> Pending | None:
    """The sign-in ``state`` names, removed in the same statement (commits): of two callbacks with
    the same state only one gets it. None when unknown, used already or expired."""
    if not state or len(state) > 200:
        return None
    now = db_now(session)
    row = session.execute(
        delete(SignOnRequest)
        .where(SignOnRequest.state_sha256 == _digest(state))
        .returning(SignOnRequest.nonce, SignOnRequest.code_verifier, SignOnRequest.next_url, SignOnRequest.expires_at)
    ).first()
    session.commit()
    if row is None or row.expires_at <= now:
        return None
    return Pending(row.nonce, row.code_verifier, row.next_url)
