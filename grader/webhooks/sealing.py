"""Webhook secrets at rest: sealed with Fernet (AES-128-CBC + HMAC-SHA256) under a key derived
from ``settings.secret_key``, so a copy of the gradebook (a backup, a world-readable SQLite file)
does not hand out the keys that sign marks. grader needs the secret itself to sign, so it is
encrypted, not hashed; whoever holds ``secret_key`` and the database can still read it.

The key is HKDF-SHA256 of ``secret_key`` with a purpose label of its own, so it never equals the
key that signs dashboard sessions. Changing ``secret_key`` makes sealed secrets unreadable:
deliveries to those endpoints fail with a clear error until they are registered again.
migrations/versions/2026_12_04_0009_webhook_secrets_sealed.py derives the same key: change both or neither.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from grader.settings import Settings

KEY_PURPOSE = b"grader webhook secrets v1"


class NoSecretKey(RuntimeError):
    """The service has no ``secret_key`` (it is optional until something needs it): nothing can be sealed."""


class SecretUnreadable(ValueError):
    """A sealed secret that this key cannot open (``secret_key`` changed, or the row was altered)."""


def derive_key(secret_key: str) -> bytes:
    """The Fernet key (urlsafe base64 of 32 bytes) for webhook secrets."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_PURPOSE).derive(secret_key.encode("utf-8"))
    return base64.urlsafe_b64encode(raw)


class SecretBox:
    """Seals and opens webhook secrets with one key."""

    def __init__(self, secret_key: str):
        self._fernet = Fernet(derive_key(secret_key))

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        if not settings.secret_key:
            raise NoSecretKey(
                "webhook secrets are sealed with the service's secret key, and none is set: "
                "the operators must set GRADER_SECRET_KEY."
            )
        return cls(settings.secret_key)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable(
                "the endpoint's secret cannot be read with this service's secret key (was GRADER_SECRET_KEY "
                "changed?); register the endpoint again."
            ) from None
