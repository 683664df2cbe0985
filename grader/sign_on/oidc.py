"""The OpenID Connect client: authorisation code flow with PKCE (S256), state and nonce, and the ID
token checked (signature against the provider's JWKS, issuer, audience, expiry, nonce) before any
of its claims is read. authlib builds the requests and checks the claims; joserfc checks the
signature; httpx carries it all.

``SignOnFailed`` messages are written for the person signing in: they never hold a token.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from grader.settings import SignOn

# Asymmetric signatures only: "none" and HS256 (keyed with the client secret, which more than the
# provider knows) never pass, whatever the provider's metadata offers.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
CLOCK_LEEWAY_S = 60  # the provider's clock and ours may differ a little; an hour is not a little
JWKS_REFRESH_S = 60  # a token naming an unknown key refetches the key set at most this often
METADATA_TTL_S = 3600


class SignOnFailed(Exception):
    """The sign-in cannot go on; the message says why, for the person at the browser."""


@dataclass(frozen=True)
class Started:
    url: str  # where to send the browser
    state: str
    nonce: str
    code_verifier: str


class OidcClient:
    """One configured provider. Thread-safe: the discovery document and key set are cached."""

    name = "oidc"  # recorded with each session it starts

    def __init__(self, config: SignOn, *, redirect_url: str, transport: httpx.BaseTransport | None = None) -> None:
        if not config.issuer or config.client_secret is None:
            raise ValueError("single sign-on is not configured")
        self.config = config
        self.issuer = config.issuer
        self.redirect_url = redirect_url
        self.display_name = config.provider_name
        self._transport = transport
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    def _oauth(self) -> OAuth2Client:
        assert self.config.client_secret is not None
        return OAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret.get_secret_value(),
            scope=self.config.scopes,
            redirect_uri=self.redirect_url,
            code_challenge_method="S256",
            timeout=self.config.timeout_s,
            transport=self._transport,
        )

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            with httpx.Client(timeout=self.config.timeout_s, transport=self._transport) as http:
                reply = http.get(url)
                reply.raise_for_status()
                body = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SignOnFailed(f"{self.display_name} could not be reached; try again in a minute.") from exc
        if not isinstance(body, dict):
            raise SignOnFailed(f"{self.display_name} answered with something that is not its configuration.")
        return body

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, which must name the configured issuer exactly."""
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL_S:
                return self._metadata
        found = self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
        if found.get("issuer") != self.issuer:
            raise SignOnFailed(
                f"{self.display_name}'s configuration names another issuer than the one this service trusts."
            )
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(found.get(key), str):
                raise SignOnFailed(f"{self.display_name}'s configuration has no {key}.")
        with self._lock:
            self._metadata, self._metadata_at = found, time.monotonic()
        return found

    def _key_set(self, *, refresh: bool) -> KeySet:
        with self._lock:
            fresh_enough = time.monotonic() - self._keys_at < JWKS_REFRESH_S
            if self._keys is not None and (not refresh or fresh_enough):
                return self._keys
        try:
            keys = KeySet.import_key_set(self._get_json(self.metadata()["jwks_uri"]))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError) as exc:
            raise SignOnFailed(f"{self.display_name}'s signing keys could not be read.") from exc
        with self._lock:
            self._keys, self._keys_at = keys, time.monotonic()
        return keys

    def start(self) -> Started:
        """A new sign-in: where to send the browser, and the secrets the callback will need."""
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        with self._oauth() as oauth:
            url, _ = oauth.create_authorization_url(
                self.metadata()["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
            )
        return Started(url, state, nonce, verifier)

    def finish(self, *, code: str, nonce: str, code_verifier: str) -> dict[str, Any]:
        """Trade the code for tokens and return the ID token's claims, once every check has passed."""
        metadata = self.metadata()
        try:
            with self._oauth() as oauth:
                token = oauth.fetch_token(
                    metadata["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                )
        except (OAuthError, httpx.HTTPError, ValueError, TypeError) as exc:  # refused, unreachable, or not JSON
            raise SignOnFailed(
                f"{self.display_name} did not accept this sign-in (the link may have been used already, "
                "or it took too long); sign in again."
            ) from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignOnFailed(f"{self.display_name} sent no ID token.")
        return self.check_id_token(id_token, nonce=nonce, access_token=token.get("access_token"))

    def check_id_token(self, id_token: str, *, nonce: str, access_token: str | None = None) -> dict[str, Any]:
        allowed = [
            a for a in SIGNING_ALGORITHMS if a in self.metadata().get("id_token_signing_alg_values_supported", [])
        ]
        try:
            try:
                decoded = jwt.decode(id_token, self._key_set(refresh=False), algorithms=allowed)
            except InvalidKeyIdError:  # the provider may have rolled its keys since we fetched them
                decoded = jwt.decode(id_token, self._key_set(refresh=True), algorithms=allowed)
        except (JoseError, ValueError) as exc:
            raise SignOnFailed(f"The ID token is not signed by {self.display_name}: sign-in refused.") from exc
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {
                "iss": {"essential": True, "values": [self.issuer]},
                "aud": {"essential": True, "values": [self.config.client_id]},
                "exp": {"essential": True},
                "nonce": {"essential": True, "values": [nonce]},
            },
            {"nonce": nonce, "client_id": self.config.client_id, "access_token": access_token},
        )
        try:
            claims.validate(leeway=CLOCK_LEEWAY_S)
        except JoseError as exc:
            claim = getattr(exc, "claim", None) or str(exc)
            raise SignOnFailed(
                f"The ID token from {self.display_name} failed its check ({_WHY.get(claim, claim)}): sign-in refused."
            ) from exc
        return dict(claims)


_WHY = {
    "iss": "it comes from another issuer",
    "aud": "it was issued to another application",
    "azp": "it was issued to another application",
    "exp": "it has expired",
    "iat": "it was issued in the future",
    "nbf": "it is not valid yet",
    "nonce": "it belongs to another sign-in",
}
