"""The real OpenID provider of the sign-on tests, and a person's way through its pages.

``running_provider`` starts tests/users/oidc_provider/provider.mjs (the certified ``oidc-provider``
package under Node, installed by scripts/ensure_oidc_provider.sh: ``make services`` and
``make test-fast`` run it) on a free port. ``through_provider`` plays the browser at the provider:
it follows the authorisation URL, fills in the login form and the consent form, and returns the
URL the provider sends the browser back to (the grader's callback).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from live_kit import free_port

SCRIPT = Path(__file__).resolve().parent / "users" / "oidc_provider" / "provider.mjs"
PROVIDER_HOME = Path(os.environ.get("OIDC_PROVIDER_HOME", "/opt/grader/oidc-provider"))
PASSWORD = "provider-test-password"  # provider.mjs: every test person's password there
CLIENT_ID = "grader"
CLIENT_SECRET = "grader-secret-for-tests-only"
OTHER_CLIENT_ID = "other-app"
OTHER_CLIENT_SECRET = "other-app-secret-for-tests-only"


@contextmanager
def running_provider(redirect_uri: str, *, clock_skew_s: int = 0) -> Iterator[str]:
    """The provider's issuer URL while it runs. Fails (never skips) when it is not installed."""
    if not (PROVIDER_HOME / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(
            f"oidc-provider is missing under {PROVIDER_HOME}: run scripts/ensure_oidc_provider.sh", pytrace=False
        )
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "REDIRECT_URI": redirect_uri,
        "CLOCK_SKEW_S": str(clock_skew_s),
        "OIDC_PROVIDER_HOME": str(PROVIDER_HOME),
    }
    log = tempfile.TemporaryFile(mode="w+")  # its warnings, and why it died if it does
    proc = subprocess.Popen(["node", str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "ready <issuer>", or "" if it died
        if not line.startswith("ready "):
            proc.wait(timeout=10)
            log.seek(0)
            pytest.fail(
                f"the OpenID provider did not start (exit {proc.returncode}):\n{log.read()[-2000:]}", pytrace=False
            )
        yield line.split()[1]
    finally:
        log.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


def through_provider(authorize_url: str, username: str, redirect_uri: str, *, password: str = PASSWORD) -> str:
    """Sign in as ``username`` at the provider; the URL it sends the browser back to."""
    with httpx.Client(timeout=10) as browser:  # the browser's cookie jar at the provider
        url, reply = authorize_url, None
        for _ in range(12):
            reply = browser.get(url)
            while reply.is_redirect:
                url = urljoin(str(reply.url), reply.headers["location"])
                if url.startswith(redirect_uri):
                    return url
                reply = browser.get(url)
            form = FORM_ACTION.search(reply.text)
            assert reply.status_code == 200 and form, reply.text[:500]
            action = urljoin(str(reply.url), form.group(1))
            data = {"username": username, "password": password} if action.endswith("/login") else {}
            reply = browser.post(action, data=data)
            assert reply.is_redirect, reply.text[:500]
            url = urljoin(str(reply.url), reply.headers["location"])
            if url.startswith(redirect_uri):
                return url
        raise AssertionError(f"the provider never sent the browser back (last page: {reply and reply.url})")


def authorize_as(
    issuer: str, client_id: str, client_secret: str, authorize_url: str, username: str, redirect_uri: str
) -> dict:
    """The token response another application (``client_id``) gets from the provider for ``username``,
    asking with the nonce of ``authorize_url`` (a grader sign-in): a real token for another audience."""
    from authlib.common.security import generate_token
    from authlib.common.urls import url_decode
    from authlib.integrations.httpx_client import OAuth2Client

    nonce = dict(url_decode(authorize_url.split("?", 1)[1]))["nonce"]
    metadata = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    with OAuth2Client(
        client_id, client_secret, scope="openid email profile", redirect_uri=redirect_uri, code_challenge_method="S256"
    ) as app:
        verifier = generate_token(64)
        url, state = app.create_authorization_url(
            metadata["authorization_endpoint"], nonce=nonce, code_verifier=verifier
        )
        back = through_provider(url, username, redirect_uri)
        code = dict(url_decode(back.split("?", 1)[1]))["code"]
        return dict(
            app.fetch_token(
                metadata["token_endpoint"], grant_type="authorization_code", code=code, code_verifier=verifier
            )
        )


class TokenSwap(httpx.HTTPTransport):
    """Between the grader and the real provider (the one place we cannot make the provider itself
    misbehave): every request goes through unchanged, and the token endpoint's answer has its
    ``id_token`` replaced by ``swap(id_token)``."""

    def __init__(self, swap) -> None:
        super().__init__()
        self.swap = swap

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        reply = super().handle_request(request)
        if request.url.path != "/token" or reply.status_code != 200:
            return reply
        reply.read()
        token = reply.json()
        token["id_token"] = self.swap(token["id_token"])
        return httpx.Response(200, json=token, headers={"cache-control": "no-store"})
