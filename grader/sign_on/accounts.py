"""Which account a person signed in by the provider is. The token names the person (by one
configured claim); the roster and the staff accounts say who they are here. A role in the token is
never read: a student number on the roster makes a student, an existing GTA or lecturer account
makes staff, and nobody else gets in.

A rostered student without an account gets one at their first sign-in (no password: they come
through the provider). Staff accounts are never made here: a lecturer adds them
(``grader users add``).
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
    """This person has no place here; the message says why, for them to read."""


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
