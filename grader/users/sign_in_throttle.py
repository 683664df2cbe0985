"""Throttling password guessing: failed sign-ins per username and per client address, counted
over a sliding window in the gradebook (so it holds across API replicas, on SQLite and Postgres,
with no Redis needed).

An attempt is written as a failure *before* its password is checked and committed at once, so
parallel guesses see each other: with ``n`` failures allowed, the ``n+1``-th attempt to commit
its row counts at least ``n+1`` and is refused. A refused attempt leaves no row (throttled
requests do not extend the lock-out); a successful one removes the account's failures. Rows
older than the window are deleted as new attempts arrive.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from grader.db.clock import db_now
from grader.users.throttle_models import SignInFailure

USERNAME_KEY_CHARS = 64


@dataclass(frozen=True)
class SignInLimits:
    window: dt.timedelta
    per_account: int
    per_address: int


class SignInThrottled(Exception):
    """Too many failed sign-ins; ``retry_after_s`` is when the oldest counted one leaves the window."""

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


def username_key(username: str) -> str:
    """How a typed username is counted: stripped and cut to the longest a username may be."""
    return username.strip()[:USERNAME_KEY_CHARS]


def begin_sign_in(
    *, session: Session, username: str, address: str, limits: SignInLimits, now: dt.datetime | None = None
) -> int:
    """Record an attempt as a failure until it succeeds (commits); returns its row id. Raises
    ``SignInThrottled`` (and records nothing) when the username or the address already has its
    allowance of failures in the window."""
    session.commit()  # end any read first: SQLite cannot turn a stale read into a write
    now = now or db_now(session)
    since = now - limits.window
    session.execute(delete(SignInFailure).where(SignInFailure.at <= since))
    row = SignInFailure(username=username_key(username), address=address[:64], at=now)
    session.add(row)
    session.commit()
    for column, value, allowed, who in (
        (SignInFailure.username, row.username, limits.per_account, "this account"),
        (SignInFailure.address, row.address, limits.per_address, "your address"),
    ):
        count, oldest = session.execute(
            select(func.count(SignInFailure.id), func.min(SignInFailure.at)).where(
                column == value, SignInFailure.at > since
            )
        ).one()
        if count > allowed:
            forget_attempt(session=session, attempt_id=row.id)
            wait = max(1, math.ceil((oldest + limits.window - now).total_seconds()))
            raise SignInThrottled(
                f"Too many failed sign-ins for {who}; try again in {math.ceil(wait / 60)} minutes.", wait
            )
    return row.id


def forget_attempt(*, session: Session, attempt_id: int) -> None:
    """Drop an attempt that was not a wrong guess (refused before its password was checked)."""
    session.commit()  # end any read first: SQLite cannot turn a stale read into a write
    session.execute(delete(SignInFailure).where(SignInFailure.id == attempt_id))
    session.commit()


def sign_in_succeeded(*, session: Session, username: str, attempt_id: int) -> None:
    """A successful sign-in: its own row and the account's earlier failures go."""
    session.commit()  # end any read first: SQLite cannot turn a stale read into a write
    session.execute(
        delete(SignInFailure).where(
            (SignInFailure.id == attempt_id) | (SignInFailure.username == username_key(username))
        )
    )
    session.commit()
