"""CSRF: every unsafe request (POST, PUT, PATCH, DELETE) from a signed-in browser carries the
session's token, in the form field ``csrf_token`` or the ``X-CSRF-Token`` header (fetch / htmx).

The sign-in form has no session yet: it uses a double-submit cookie instead (a random value in a
SameSite=Strict cookie and in the form; another site can neither read nor set it).
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
LOGIN_COOKIE = "grader_login_csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfRejected(Exception):
    pass


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def sent_token(request: Request) -> str:
    """The token the request carries: the header, else the form field."""
    header = request.headers.get(HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # cached on the request: the route reads the same form
        value = form.get(FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def check(request: Request, expected: str) -> None:
    """Refuse an unsafe request whose token is missing or wrong. Safe methods pass."""
    if request.method not in UNSAFE_METHODS:
        return
    sent = await sent_token(request)
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected("the form has expired or did not come from this site; reload the page and try again.")
