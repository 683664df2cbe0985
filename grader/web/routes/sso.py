"""Single sign-on (OpenID Connect): ``/login/sso`` sends the browser to the provider, and
``/login/sso/callback`` takes it back, checks everything (grader.sign_on) and starts the same
server-side session a password sign-in does.

The state travels in the URL and in a cookie only this browser holds (so a callback started in
another browser is refused); the nonce and PKCE verifier stay on the server until the callback
takes them, once.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.http.deps import SessionDep
from grader.settings import Settings
from grader.sign_on import requests
from grader.sign_on.accounts import NotAdmitted, account_for, bind_subject, identity_from_claims, subject_from_claims
from grader.sign_on.oidc import OidcClient, SignOnFailed
from grader.users.models import User
from grader.users.web_sessions import COOKIE_NAME, start_session
from grader.web.deps import session_policy, signed_in
from grader.web.routes.auth import safe_next
from grader.web.templating import render

router = APIRouter()

STATE_COOKIE = "grader_sso_state"
CALLBACK_PATH = "/login/sso/callback"


def sign_on_client(request: Request) -> OidcClient | None:
    """The app's provider client, made at first use (tests put their own in ``app.state``)."""
    client: OidcClient | None = getattr(request.app.state, "sign_on", None)
    settings: Settings = request.app.state.settings
    if client is None and settings.oidc.enabled:
        redirect = settings.oidc.redirect_url or settings.public_url.rstrip("/") + CALLBACK_PATH
        client = request.app.state.sign_on = OidcClient(settings.oidc, redirect_url=redirect)
    return client


def _secure(request: Request) -> bool:
    return request.app.state.settings.public_url.startswith("https://")


def _refused(request: Request, message: str, status: int, *, keep_state: bool = False) -> Response:
    response = render(request, "sign_on_refused.html", {"message": message}, status=status)
    if not keep_state:  # a forged callback must not end this browser's own sign-in under way
        response.delete_cookie(STATE_COOKIE, path="/login/sso")
    return response


def _audit_refusal(session: Session, reason: str, identity: str = "-", user_id: int | None = None) -> None:
    # Refused at an account (bound to another person): about that account, so that erasing its
    # student erases the row too; otherwise about the identity the token gave.
    record_event(
        session=session,
        actor_id=None,
        action="sign_on.refused",
        subject_type="sign_on" if user_id is None else "user",
        subject_id=identity[:64] if user_id is None else user_id,
        details={"reason": reason[:300]} if user_id is None else {"reason": reason[:300], "identity": identity[:64]},
    )
    session.commit()


@router.get("/login/sso")
def begin(request: Request, session: SessionDep, next: str | None = None) -> Response:
    client = sign_on_client(request)
    if client is None:
        return _refused(request, "Single sign-on is not set up on this service; use your local account.", 404)
    if signed_in(request, session) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    try:
        started = client.start()
    except SignOnFailed as exc:
        return _refused(request, str(exc), 502)
    settings: Settings = request.app.state.settings
    try:
        requests.remember(
            session=session,
            state=started.state,
            nonce=started.nonce,
            code_verifier=started.code_verifier,
            next_url=safe_next(next),
            address=request.client.host if request.client else "unknown",
            limits=requests.StartLimits(settings.sso_starts_per_address, settings.sso_pending_max),
        )
    except requests.TooManyStarts as exc:
        response = _refused(request, str(exc), exc.status, keep_state=True)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    response = RedirectResponse(started.url, status_code=303)
    response.set_cookie(
        STATE_COOKIE,
        started.state,
        max_age=int(requests.REQUEST_TTL.total_seconds()),
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level navigation from its site
        secure=_secure(request),
        path="/login/sso",
    )
    return response


@router.get(CALLBACK_PATH)
async def callback(request: Request, session: SessionDep) -> Response:
    client = sign_on_client(request)
    if client is None:
        return _refused(request, "Single sign-on is not set up on this service; use your local account.", 404)
    params = request.query_params
    state = params.get("state", "")
    cookie = request.cookies.get(STATE_COOKIE, "")
    # Checked before anything is taken: a forged callback cannot spend someone else's sign-in.
    if not state or not cookie or not hmac.compare_digest(state.encode(), cookie.encode()):
        return _refused(
            request, "This sign-in was not started in this browser (its state does not match).", 400, keep_state=True
        )
    pending = await run_in_threadpool(lambda: requests.take(session=session, state=state))
    if pending is None:
        return _refused(request, "This sign-in has expired or was used already; sign in again.", 400)
    if params.get("iss") is not None and params.get("iss") != client.issuer:  # RFC 9207: no mix-up
        return _refused(request, "The answer came from another provider than this service trusts.", 400)
    if params.get("error"):
        why = params.get("error_description") or params["error"]
        return _refused(request, f"{client.display_name} did not sign you in: {why[:200]}", 401)
    code = params.get("code", "")
    if not code or len(code) > 2000:
        return _refused(request, f"{client.display_name} sent no authorisation code.", 400)
    settings: Settings = request.app.state.settings

    def finish() -> User:
        claims = client.finish(code=code, nonce=pending.nonce, code_verifier=pending.code_verifier)
        identity = "-"
        try:
            identity = identity_from_claims(claims, claim=settings.oidc.claim, match_on=settings.oidc.match_on)
            subject = subject_from_claims(claims)
            user = account_for(
                session=session, identity=identity, match_on=settings.oidc.match_on, provider=client.name
            )
            bind_subject(session=session, user=user, issuer=client.issuer, subject=subject, provider=client.name)
            return user
        except NotAdmitted as exc:
            session.rollback()
            _audit_refusal(session, str(exc), identity, exc.user_id)
            raise

    try:
        user = await run_in_threadpool(finish)
    except SignOnFailed as exc:
        await run_in_threadpool(_audit_refusal, session, str(exc))
        return _refused(request, str(exc), 401)
    except NotAdmitted as exc:
        return _refused(request, str(exc), 403)
    secret, _ = await run_in_threadpool(
        lambda: start_session(session=session, user=user, provider=client.name, policy=session_policy(settings))
    )
    response = RedirectResponse(pending.next_url, status_code=303)
    response.set_cookie(COOKIE_NAME, secret, httponly=True, samesite="lax", secure=_secure(request), path="/")
    response.delete_cookie(STATE_COOKIE, path="/login/sso")
    return response
