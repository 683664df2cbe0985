"""API token secrets: what is handed out once, and the hash that is stored."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "grd_"  # recognisable in logs and by secret scanners


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form. A token has 256 random bits, so a plain sha256 needs no salt or stretching."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
