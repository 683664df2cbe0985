"""Which account a person signed in by the provider is. The token names the person (by one
configured claim); the roster and the staff accounts say who they are here. A role in the token is
never read: a student number on the roster makes a student, an existing GTA or lecturer account
makes staff, and nobody else gets in.

A rostered student without an account gets one at their first sign-in (no password: they come
through the provider). Staff accounts are never made here: a lecturer adds them
(``grader users add``).

At the first sign-in the account found is bound to the token's issuer and ``sub`` (the provider's
own id for the person, never reassigned); every later sign-in to it must present the same ones. An
email address or student number the university gives to someone new therefore does not open the
old holder's account: it is refused until a lecturer unbinds the account
(``grader users unlink-sign-on``) on purpose.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.roster.models import Student
from grader.users.models import Role, User
from grader.users.service import UserExists, create_user

STAFF_ROLES = (Role.gta, Role.lecturer)


class NotAdmitted(Exception):
    """This person has no place here; the message says why, for them to read. ``user_id``: the
    account concerned, where one was found (for the audit log)."""

    def __init__(self, message: str, *, user_id: int | None = None) -> None:
        super().__init__(message)
        self.user_id = user_id


class NotBound(LookupError):
    """``unbind``: no such account, or it is not bound."""


MAX_SUBJECT_CHARS = 255  # OpenID Connect Core 2: a sub is at most 255 ASCII characters


def subject_from_claims(claims: dict[str, Any]) -> str:
    """The token's ``sub``: the provider's id for the person, which it never gives to another."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_SUBJECT_CHARS:
        raise NotAdmitted("The provider did not give its id for you (no usable 'sub' claim in its answer).")
    return sub


def identity_from_claims(claims: dict[str, Any], *, claim: str, match_on: str) -> str:
    """The value that names the person: the configured claim, trimmed (an email in lower case)."""
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip() or len(value) > 320:
        raise NotAdmitted(f"The provider did not say who you are (no {claim!r} claim in its answer).")
    if match_on == "email" and claims.get("email_verified") is False:
        raise NotAdmitted("The provider says your email address is not verified, so it cannot name you here.")
    return value.strip().lower() if match_on == "email" else value.strip()


def account_for(*, session: Session, identity: str, match_on: str, provider: str) -> User:
    """The active account ``identity`` names (commits when it makes a student's account), or
    ``NotAdmitted``: nobody, more than one, or an account switched off."""
    if match_on == "email":
        staff = list(
            session.scalars(select(User).where(User.role.in_(STAFF_ROLES), func.lower(User.email) == identity))
        )
        students = list(session.scalars(select(Student).where(func.lower(Student.email) == identity)))
    else:
        staff = list(session.scalars(select(User).where(User.role.in_(STAFF_ROLES), User.username == identity)))
        students = list(session.scalars(select(Student).where(Student.external_id == identity)))
    if len(staff) + len(students) == 0:
        raise NotAdmitted(
            "You are not on this module's roster or staff list, so there is no account for you here. "
            "If you should be, ask the module's lecturer to add you."
        )
    if len(staff) + len(students) > 1:
        raise NotAdmitted(
            "More than one person here matches your sign-in, so it cannot say which you are. "
            "Ask the module's lecturer to correct the roster or staff list."
        )
    if staff:
        user = staff[0]
    elif students[0].user_id is not None:
        user = session.get_one(User, students[0].user_id)
    else:
        user = _first_account(session, students[0], provider)
    if not user.active or user.role not in (Role.student, *STAFF_ROLES):
        raise NotAdmitted("Your account here is switched off. Ask the module's lecturer.")
    return user


def _first_account(session: Session, student: Student, provider: str) -> User:
    try:
        user = create_user(
            session=session, username=student.external_id, role=Role.student, name=student.name, email=student.email
        )
    except UserExists as exc:
        raise NotAdmitted(
            "An account named after your student number exists but is not yours on the roster. "
            "Ask the module's lecturer."
        ) from exc
    student.user_id = user.id
    record_event(
        session=session,
        actor_id=user.id,
        action="sign_on.account",
        subject_type="user",
        subject_id=user.id,
        details={"provider": provider, "student": student.external_id},
    )
    session.commit()
    return user


def bind_subject(*, session: Session, user: User, issuer: str, subject: str, provider: str) -> None:
    """Bind ``user`` to the person (``issuer``, ``subject``) at their first sign-in (commits), or
    check that it is the same person as before. ``NotAdmitted`` when the account is bound to
    someone else, or this person is bound to another account."""
    if user.sso_subject is not None:
        if (user.sso_issuer, user.sso_subject) == (issuer, subject):
            return
        raise NotAdmitted(
            "The account your sign-in names here belongs to another person at the provider (an email address "
            "or student number given to someone new, perhaps), so it is not opened for you. If it is yours, "
            "ask the module's lecturer to unlink it from its earlier sign-in.",
            user_id=user.id,
        )
    holder = session.scalars(select(User).where(User.sso_issuer == issuer, User.sso_subject == subject)).first()
    if holder is not None and holder.id != user.id:
        raise NotAdmitted(
            "Your sign-in is linked to another account here than the one your email address or student "
            "number names now. Ask the module's lecturer to unlink the old account.",
            user_id=user.id,
        )
    user.sso_issuer, user.sso_subject = issuer, subject
    record_event(
        session=session,
        actor_id=user.id,
        action="sign_on.bind",
        subject_type="user",
        subject_id=user.id,
        details={"provider": provider, "issuer": issuer, "subject": subject},
    )
    session.commit()


def unbind(*, session: Session, username: str, reason: str, actor_id: int | None = None) -> tuple[str, str]:
    """Unbind ``username`` from its provider's person (commits, audited), so that the next sign-in
    naming the account binds it afresh: a deliberate re-link. Returns the (issuer, subject) it had."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotBound(f"no user {username!r}")
    if user.sso_subject is None or user.sso_issuer is None:
        raise NotBound(f"{username} is not linked to a sign-on account; nothing to unlink")
    was = (user.sso_issuer, user.sso_subject)
    user.sso_issuer = user.sso_subject = None
    record_event(
        session=session,
        actor_id=actor_id,
        action="sign_on.unbind",
        subject_type="user",
        subject_id=user.id,
        details={"issuer": was[0], "subject": was[1], "reason": reason[:2000]},
    )
    session.commit()
    return was


def unbind_all(*, session: Session, reason: str, actor_id: int | None = None) -> int:
    """Unbind every bound account (commits; each audited): after the provider's application is
    replaced, which gives everyone a new ``sub``. Returns how many."""
    names = list(session.scalars(select(User.username).where(User.sso_subject.is_not(None)).order_by(User.id)))
    for username in names:
        unbind(session=session, username=username, reason=reason, actor_id=actor_id)
    return len(names)
