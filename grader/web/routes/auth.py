"""Sign in and sign out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from grader.http.deps import SessionDep
from grader.settings import Settings
from grader.users.models import User
from grader.users.password_checks import PasswordChecksBusy
from grader.users.passwords import AuthProvider, LocalAccounts
from grader.users.sign_in_throttle import (
    SignInLimits,
    SignInThrottled,
    begin_sign_in,
    forget_attempt,
    sign_in_succeeded,
)
from grader.users.web_session_models import WebSession
from grader.users.web_sessions import COOKIE_NAME, end_session, start_session
from grader.web import csrf
from grader.web.deps import CurrentWebUser, session_policy, signed_in
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


def _login_page(
    request: Request,
    next_url: str,
    *,
    error: str = "",
    username: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    token = csrf.new_token()
    settings: Settings = request.app.state.settings
    response = render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "next": next_url,
            "error": error,
            "username": username,
            "local_accounts": settings.local_accounts,
            "sso_name": settings.oidc.provider_name if settings.oidc.enabled else "",
        },
        status=status,
    )
    response.headers.update(headers or {})
    response.set_cookie(
        csrf.LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path="/login"
    )
    return response


def sign_in_limits(settings: Settings) -> SignInLimits:
    return SignInLimits(
        window=dt.timedelta(minutes=settings.login_window_minutes),
        per_account=settings.login_failures_per_account,
        per_address=settings.login_failures_per_address,
    )


def _checked_sign_in(
    request: Request, session: Session, auth: AuthProvider, username: str, password: str
) -> User | None:
    """Throttled (per account and address), then checked under the process's bound on
    concurrent password checks. Raises ``SignInThrottled`` or ``PasswordChecksBusy``."""
    address = request.client.host if request.client else "unknown"
    attempt = begin_sign_in(
        session=session, username=username, address=address, limits=sign_in_limits(request.app.state.settings)
    )
    try:
        with request.app.state.password_checks.slot():
            user = auth.authenticate(session=session, username=username, password=password)
    except PasswordChecksBusy:
        forget_attempt(session=session, attempt_id=attempt)  # not a guess: its password was never checked
        raise
    if user is None or user.role.value == "service":
        return None  # the attempt's row stays: a failure
    sign_in_succeeded(session=session, username=username, attempt_id=attempt)
    return user


@router.get("/login")
def login_form(request: Request, session: SessionDep, next: str | None = None) -> Response:
    if signed_in(request, session) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=2000)] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    next_url = safe_next(next)
    if not request.app.state.settings.local_accounts:
        return _login_page(
            request, next_url, error="Local accounts are turned off here: sign in with single sign-on.", status=403
        )
    try:
        await csrf.check(request, request.cookies.get(csrf.LOGIN_COOKIE, ""))
    except csrf.CsrfRejected as exc:
        return _login_page(request, next_url, error=str(exc), username=username, status=403)
    auth = provider(request)
    try:
        user = await run_in_threadpool(_checked_sign_in, request, session, auth, username, password)
    except SignInThrottled as exc:
        return _login_page(
            request,
            next_url,
            error=str(exc),
            username=username,
            status=429,
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    except PasswordChecksBusy:
        return _login_page(
            request,
            next_url,
            username=username,
            status=503,
            headers={"Retry-After": "5"},
            error="The service is checking many sign-ins at this moment; try again in a few seconds.",
        )
    if user is None:
        return _login_page(request, next_url, error="Wrong username or password.", username=username, status=401)
    secret, _ = await run_in_threadpool(
        lambda: start_session(
            session=session, user=user, provider=auth.name, policy=session_policy(request.app.state.settings)
        )
    )
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
