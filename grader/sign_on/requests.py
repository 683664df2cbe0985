"""Sign-ins under way, kept server-side between the redirect to the provider and its callback.

Each ``GET /login/sso`` stores a row, so the rows are bounded two ways, as password guesses are
(grader.users.sign_in_throttle): per client address (the unfinished sign-ins it started within
``REQUEST_TTL``) and in all. A row is written first and counted after its commit, so parallel
requests see each other; a refused request leaves no row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from grader.db.clock import db_now
from grader.sign_on.models import SignOnRequest

# Long enough to type a password and approve a second factor; short enough that a state found in a
# log or a browser history is useless.
REQUEST_TTL = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class StartLimits:
    per_address: int  # unfinished sign-ins one client address may have started within REQUEST_TTL
    in_all: int  # unfinished sign-ins stored at once, from everywhere


class TooManyStarts(Exception):
    """Refused before anything is stored; ``status`` 429 (this address) or 503 (everyone), and
    ``retry_after_s`` when the oldest counted sign-in expires."""

    def __init__(self, message: str, *, status: int, retry_after_s: int) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Pending:
    nonce: str
    code_verifier: str
    next_url: str


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def remember(
    *,
    session: Session,
    state: str,
    nonce: str,
    code_verifier: str,
    next_url: str,
    address: str,
    limits: StartLimits,
) -> None:
    """Keep a new sign-in's secrets (commits); sign-ins left unfinished are dropped here too.
    ``TooManyStarts`` (and nothing kept) past the limits."""
    session.commit()  # end any read first: SQLite cannot turn a stale read into a write
    now = db_now(session)
    session.execute(delete(SignOnRequest).where(SignOnRequest.expires_at <= now))
    row = SignOnRequest(
        state_sha256=_digest(state),
        nonce=nonce,
        code_verifier=code_verifier,
        next_url=next_url,
        address=address[:64],
        created_at=now,
        expires_at=now + REQUEST_TTL,
    )
    session.add(row)
    session.commit()
    for where, allowed, status, message in (
        (
            SignOnRequest.address == row.address,
            limits.per_address,
            429,
            "Too many sign-ins started from your address; try again in {minutes} minutes.",
        ),
        (
            SignOnRequest.id.is_not(None),
            limits.in_all,
            503,
            "The service has too many sign-ins under way at this moment; try again in {minutes} minutes.",
        ),
    ):
        count, oldest = session.execute(
            select(func.count(SignOnRequest.id), func.min(SignOnRequest.expires_at)).where(
                where, SignOnRequest.expires_at > now
            )
        ).one()
        if count > allowed:
            session.execute(delete(SignOnRequest).where(SignOnRequest.id == row.id))
            session.commit()
            wait = max(1, math.ceil((oldest - now).total_seconds()))
            raise TooManyStarts(message.format(minutes=math.ceil(wait / 60)), status=status, retry_after_s=wait)


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
