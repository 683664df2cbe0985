"""Sign in and sign out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from grader.api.deps import SessionDep
from grader.web import csrf
from grader.web.auth import AuthProvider, LocalAccounts
from grader.web.deps import CurrentWebUser, session_policy, signed_in
from grader.web.models import WebSession
from grader.web.sessions import COOKIE_NAME, end_session, start_session
from grader.web.templating import render

router = APIRouter()


def safe_next(value: str | None) -> str:
    """Only a path on this site: never another host (``//evil``, ``/\\evil``, ``https://...``)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n"):
        return "/"
    return value


def provider(request: Request) -> AuthProvider:
    return getattr(request.app.state, "auth_provider", None) or LocalAccounts()


def _secure(request: Request) -> bool:
    return request.app.state.settings.public_url.startswith("https://")


def _login_page(request: Request, next_url: str, *, error: str = "", username: str = "", status: int = 200) -> Response:
    token = csrf.new_token()
    response = render(request, "login.html", {"login_csrf": token, "next": next_url, "error": error,
                                              "username": username}, status=status)
    response.set_cookie(csrf.LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request),
                        path="/login")
    return response


@router.get("/login")
def login_form(request: Request, session: SessionDep, next: str | None = None) -> Response:
    if signed_in(request, session) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, safe_next(next))


@router.post("/login")
async def login(request: Request, session: SessionDep, username: Annotated[str, Form(max_length=200)] = "",
                password: Annotated[str, Form(max_length=2000)] = "", next: Annotated[str, Form()] = "/") -> Response:
    next_url = safe_next(next)
    try:
        await csrf.check(request, request.cookies.get(csrf.LOGIN_COOKIE, ""))
    except csrf.CsrfRejected as exc:
        return _login_page(request, next_url, error=str(exc), username=username, status=403)
    auth = provider(request)
    user = await run_in_threadpool(lambda: auth.authenticate(session=session, username=username, password=password))
    if user is None or user.role.value == "service":
        return _login_page(request, next_url, error="Wrong username or password.", username=username, status=401)
    secret, _ = await run_in_threadpool(lambda: start_session(session=session, user=user, provider=auth.name,
                                                               policy=session_policy(request.app.state.settings)))
    response = RedirectResponse(next_url, status_code=303)
    # No max-age: the cookie goes with the browser; the server ends the session (idle / absolute).
    response.set_cookie(COOKIE_NAME, secret, httponly=True, samesite="lax", secure=_secure(request), path="/")
    response.delete_cookie(csrf.LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, user: CurrentWebUser) -> Response:
    row = session.get(WebSession, user.session_id)
    if row is not None:
        end_session(session=session, row=row)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
