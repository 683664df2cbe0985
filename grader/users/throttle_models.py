"""Failed dashboard sign-ins, kept for the sliding window that throttles password guessing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base
from grader.db.types import UTCDateTime


class SignInFailure(Base):
    """One sign-in that did not succeed (or is still being checked: the row is written before the
    password is, so parallel guesses see each other). Rows older than the window are deleted."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        Index("ix_sign_in_failures_username_at", "username", "at"),
        Index("ix_sign_in_failures_address_at", "address", "at"),
        Index("ix_sign_in_failures_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))  # as typed (stripped, cut to 64): known or not
    address: Mapped[str] = mapped_column(String(64))  # the client's IP address
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
