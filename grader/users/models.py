"""Accounts and API tokens."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base
from grader.db.types import JSONValue, UTCDateTime, str_enum, utcnow


class Role(str, enum.Enum):
    student = "student"
    gta = "gta"
    lecturer = "lecturer"
    service = "service"  # a course system (CATe, LabTS) acting through a token


class TokenView(str, enum.Enum):
    """What a token's reads show. ``student``: every mark filtered by the visibility table as the
    student concerned would see it (a course system that relays to students); ``staff``: the
    markers' full view. A student's token is always ``student``, whatever the column says."""

    student = "student"
    staff = "staff"


class User(Base):
    __tablename__ = "users"
    # One account per person at the provider: a subject is bound to one account at most.
    __table_args__ = (UniqueConstraint("sso_issuer", "sso_subject", name="uq_users_sso_subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(str_enum(Role, "user_role"))
    # None: no password login (service accounts; students signing in through the course system).
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, server_default=true())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Single sign-on: the provider's issuer and its ``sub`` for the person bound to this account at
    # their first sign-in (grader.sign_on.accounts). None: never signed in that way, or unbound.
    sso_issuer: Mapped[str | None] = mapped_column(String(500))
    sso_subject: Mapped[str | None] = mapped_column(String(255))


class ApiToken(Base):
    """A bearer token. Only its sha256 is kept: a leaked table grants nothing."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    view: Mapped[TokenView] = mapped_column(
        str_enum(TokenView, "token_view"), default=TokenView.student, server_default=TokenView.student.value
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
