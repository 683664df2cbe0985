"""Demo accounts for ``grader up``: a lecturer, a GTA and two students on the roster.

Made once and found again on later starts; every start gives each a fresh API token and revokes
the previous start's, so only the tokens just printed work; likewise a fresh dashboard password.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.courseworks.models import Coursework
from grader.courseworks.service import effective_deadline, grant_extension
from grader.db.clock import db_now
from grader.roster.models import Student
from grader.roster.service import student_by_external_id, student_for_user
from grader.users.models import ApiToken, Role, User
from grader.users.passwords import set_password
from grader.users.service import create_token, create_user, get_user

TOKEN_NAME = "grader up (demo)"
DEMO_EXTENSION = dt.timedelta(days=30)  # the sample deadlines are in the past: demo work is not late


@dataclass(frozen=True)
class DemoUser:
    username: str
    name: str
    role: Role
    external_id: str | None = None  # students: their roster entry


DEMO_USERS = (
    DemoUser("lecturer", "Demo Lecturer", Role.lecturer),
    DemoUser("gta", "Demo GTA", Role.gta),
    DemoUser("student1", "Demo Student One", Role.student, "demo-0001"),
    DemoUser("student2", "Demo Student Two", Role.student, "demo-0002"),
)


@dataclass(frozen=True)
class DemoAccount:
    user: DemoUser
    token: str  # the secret, shown once
    password: str = ""  # the dashboard password, fresh every start, shown once


class DemoConflict(Exception):
    """The gradebook already has a demo name used for something else."""


def ensure_demo_accounts(*, session: Session, users: tuple[DemoUser, ...] = DEMO_USERS) -> list[DemoAccount]:
    accounts = []
    for demo in users:
        user = get_user(session=session, username=demo.username)
        if user is None:
            user = create_user(session=session, username=demo.username, role=demo.role, name=demo.name)
        elif user.role is not demo.role:
            raise DemoConflict(
                f"user {demo.username!r} exists as a {user.role.value}; the demo needs a "
                f"{demo.role.value} of that name (start with --no-demo, or use another gradebook)"
            )
        if demo.external_id:
            _enrol(session, user, demo, demo.external_id)
            _extend_past_deadlines(session, demo.external_id)
        _revoke_demo_tokens(session, user)
        secret, _ = create_token(session=session, user=user, name=TOKEN_NAME)
        password = secrets.token_urlsafe(12)  # like the tokens: the previous start's stops working
        set_password(session=session, user=user, password=password)
        accounts.append(DemoAccount(demo, secret, password))
    return accounts


def _enrol(session: Session, user: User, demo: DemoUser, external_id: str) -> None:
    """Link ``demo``'s user to the roster's student ``external_id`` (``demo.external_id``, set)."""
    student = student_by_external_id(session=session, external_id=external_id)
    linked = student_for_user(session=session, user_id=user.id)
    if student is None and linked is None:
        session.add(Student(external_id=external_id, name=demo.name, user_id=user.id))
    elif student is not None and student.user_id in (None, user.id) and linked in (None, student):
        student.user_id = user.id
    else:
        raise DemoConflict(
            f"the roster links {demo.username!r} or {demo.external_id!r} to someone else "
            "(start with --no-demo, or use another gradebook)"
        )
    session.commit()


def _extend_past_deadlines(session: Session, external_id: str) -> None:
    """A demo student whose deadline has passed gets an extension, so the demo shows real totals
    rather than everything zeroed by the late policy."""
    student = student_by_external_id(session=session, external_id=external_id)
    assert student is not None  # _enrol has just committed them
    now = db_now(session)
    for coursework in session.scalars(select(Coursework)).all():
        deadline = effective_deadline(session=session, student_id=student.id, coursework_id=coursework.id)
        if deadline is not None and deadline < now:
            grant_extension(
                session=session,
                student_id=student.id,
                coursework_id=coursework.id,
                deadline=now + DEMO_EXTENSION,
                granted_by_id=None,
                reason="grader up demo student",
            )


def _revoke_demo_tokens(session: Session, user: User) -> None:
    live = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.name == TOKEN_NAME, ApiToken.revoked_at.is_(None))
    ).all()
    if not live:
        return
    now = db_now(session)
    for token in live:
        token.revoked_at = now
    record_event(
        session=session,
        actor_id=None,
        action="token.revoke",
        subject_type="user",
        subject_id=user.id,
        details={"token_ids": [t.id for t in live], "why": "a new grader up start"},
    )
    session.commit()
