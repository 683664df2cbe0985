"""Dashboard sign-in sessions, kept server-side so that signing out (or an operator) ends them at once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base
from grader.db.types import UTCDateTime
from grader.users.models import User  # noqa: F401  (referenced table first)


class WebSession(Base):
    """One signed-in browser. Only the cookie's sha256 is kept: a leaked table signs no one in."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))  # sent back in every form and fetch
    provider: Mapped[str] = mapped_column(String(32))  # how they signed in: local or oidc
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # idle expiry counts from here
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # absolute expiry, whatever the activity
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # signed out
