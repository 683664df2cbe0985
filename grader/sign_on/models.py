"""Sign-ins under way: what the callback must find again (nonce, PKCE verifier, where to go next)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base
from grader.db.types import UTCDateTime


class SignOnRequest(Base):
    """One redirect to the provider not yet come back. Keyed by the sha256 of its ``state`` (the
    state itself lives only in the browser's cookie and the URL); deleted when the callback uses it,
    so a callback can be answered once."""

    __tablename__ = "sign_on_requests"
    __table_args__ = (Index("ix_sign_on_requests_address_expires_at", "address", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    state_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_url: Mapped[str] = mapped_column(String(2000))
    address: Mapped[str] = mapped_column(String(64), server_default="")  # the client's IP: the throttle's key
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
