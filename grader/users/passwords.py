"""Who may sign in to the dashboard: local accounts with argon2 password hashes, behind an
``AuthProvider`` seam so the college's single sign-on can plug in beside them.

A provider only answers "which active user is this?"; starting the session (``web_sessions``) is the
same whichever provider answered. Single sign-on (``grader.sign_on.oidc.OidcClient``, name ``oidc``)
is a redirect flow instead of a password check: its callback (``grader/web/routes/sso.py``) maps the
ID token's claim to a ``User`` and then calls ``web_sessions.start_session`` with its name.
``Settings.local_accounts`` false turns this provider off.
"""

from __future__ import annotations

from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.users.models import User
from grader.users.service import get_user

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 accepts more; a megabyte "password" is an attack on our CPU
_hasher = PasswordHasher()  # argon2id with the library's current recommended costs
# Verified when the username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password anyone has")


class PasswordRejected(ValueError):
    """A new password that is too short or too long."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRejected(f"a password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRejected(f"a password may have at most {MAX_PASSWORD_LENGTH} characters.")
    return _hasher.hash(password)


def password_matches(stored: str | None, password: str) -> bool:
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        # The dummy hash keeps the timing of an account without a password; it never lets anyone in,
        # whether the column is NULL or an empty string.
        return _hasher.verify(stored or _DUMMY_HASH, password) and bool(stored)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def set_password(*, session: Session, user: User, password: str, actor_id: int | None = None) -> None:
    """Give ``user`` a local password (commits). Their open sessions stay: revoke them apart."""
    user.password_hash = hash_password(password)
    record_event(
        session=session,
        actor_id=actor_id,
        action="user.password",
        subject_type="user",
        subject_id=user.id,
        details={"username": user.username},
    )
    session.commit()


class AuthProvider(Protocol):
    """A way of signing in. ``name`` is recorded with each session it starts."""

    name: str

    def authenticate(self, *, session: Session, username: str, password: str) -> User | None: ...


class LocalAccounts:
    """Usernames and argon2 password hashes in ``users``. Accounts without a password (service
    accounts, students who will come through SSO) cannot sign in here."""

    name = "local"

    def authenticate(self, *, session: Session, username: str, password: str) -> User | None:
        user = get_user(session=session, username=username.strip()) if len(username) <= 64 else None
        stored = user.password_hash if user is not None else None
        if not password_matches(stored, password) or user is None or stored is None or not user.active:
            return None
        if _hasher.check_needs_rehash(stored):  # costs raised since: upgrade the stored hash now
            user.password_hash = _hasher.hash(password)
            session.commit()
        return user
