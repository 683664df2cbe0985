"""Dependencies of the dashboard's routes: who is signed in (``web_user``), role guards
(``require_roles``), and the errors pages raise (rendered as HTML by ``app.mount_web``).

``web_user`` also checks CSRF on every unsafe request, so no signed-in form or fetch can skip it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from grader.http.deps import SessionDep
from grader.roster.service import student_for_user
from grader.settings import Settings
from grader.users.models import Role
from grader.users.web_sessions import COOKIE_NAME, SessionPolicy, find_session
from grader.web import csrf


class LoginRequired(Exception):
    """Not signed in (or the session ended): pages redirect to /login, fetches get 401."""

    def __init__(self, next_url: str = "/"):
        self.next_url = next_url


class WebError(Exception):
    """A page's refusal: 400 bad input, 403 not for your role, 404 not there (or not yours)."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message


@dataclass(frozen=True)
class WebUser:
    id: int
    username: str
    name: str
    role: Role
    csrf_token: str
    session_id: int
    student_id: int | None  # students: their roster entry (None: not on the roster)

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.gta, Role.lecturer)


def session_policy(settings: Settings) -> SessionPolicy:
    return SessionPolicy(
        idle=dt.timedelta(minutes=settings.web_session_idle_minutes),
        absolute=dt.timedelta(hours=settings.web_session_max_hours),
    )


def _next_url(request: Request) -> str:
    if request.method != "GET":
        return "/"
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return path


def signed_in(request: Request, session: Session) -> WebUser | None:
    settings: Settings = request.app.state.settings
    live = find_session(session=session, secret=request.cookies.get(COOKIE_NAME), policy=session_policy(settings))
    if live is None or live.user.role is Role.service:  # course systems use API tokens, never the dashboard
        return None
    student = student_for_user(session=session, user_id=live.user.id) if live.user.role is Role.student else None
    return WebUser(
        id=live.user.id,
        username=live.user.username,
        name=live.user.name,
        role=live.user.role,
        csrf_token=live.row.csrf_token,
        session_id=live.row.id,
        student_id=student.id if student else None,
    )


async def web_user(request: Request, session: SessionDep) -> WebUser:
    user = await run_in_threadpool(signed_in, request, session)  # database calls off the event loop
    if user is None:
        raise LoginRequired(_next_url(request))
    try:
        await csrf.check(request, user.csrf_token)
    except csrf.CsrfRejected as exc:
        raise WebError(403, str(exc)) from None
    request.state.web_user = user  # for the error pages' nav
    return user


CurrentWebUser = Annotated[WebUser, Depends(web_user)]


def require_roles(*roles: Role):
    """A dependency: the signed-in user, if their role is one of ``roles``; else 403."""

    def guard(user: CurrentWebUser) -> WebUser:
        if user.role not in roles:
            raise WebError(403, "this page is not for your role.")
        return user

    return guard


WebStudent = Annotated[WebUser, Depends(require_roles(Role.student))]
WebStaff = Annotated[WebUser, Depends(require_roles(Role.gta, Role.lecturer))]
WebLecturer = Annotated[WebUser, Depends(require_roles(Role.lecturer))]


def login_url(next_url: str) -> str:
    return "/login" + (f"?next={quote(next_url, safe='/')}" if next_url and next_url != "/" else "")
