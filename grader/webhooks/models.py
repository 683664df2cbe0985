"""Webhook endpoints (where course systems want to hear) and the outbox of deliveries to them."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid, true
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base
from grader.db.types import JSONValue, UTCDateTime, str_enum, utcnow
from grader.users.models import TokenView, User  # noqa: F401  (referenced tables first)


class DeliveryStatus(str, enum.Enum):
    pending = "pending"  # waiting for its next attempt (or being attempted under a claim)
    delivered = "delivered"  # the endpoint answered 2xx
    failed = "failed"  # attempts used up, or the endpoint is gone: a person looks


class WebhookEndpoint(Base):
    """A URL a course system registered. ``secret_sealed`` is the shared HMAC key, encrypted under a
    key from ``settings.secret_key`` (grader.webhooks.sealing): we must sign with it, so it is not
    hashed, and it is never shown again after creation."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret_sealed: Mapped[str] = mapped_column("secret", Text)  # a Fernet token, never the secret itself
    description: Mapped[str] = mapped_column(Text, default="")
    events: Mapped[list[str]] = mapped_column(JSONValue, default=lambda: ["submission.graded"])
    active: Mapped[bool] = mapped_column(Boolean, server_default=true())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The view of the token that registered it: a student-view endpoint is told only what the
    # student concerned may see (no score that includes hidden items before release).
    view: Mapped[TokenView] = mapped_column(
        str_enum(TokenView, "webhook_endpoint_view"), default=TokenView.student, server_default=TokenView.student.value
    )


class WebhookDelivery(Base):
    """One event for one endpoint: the outbox row, written in the transaction that caused the event."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        # What deliverers scan: pending rows whose next attempt has come.
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        # An endpoint's recent deliveries (the API).
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # the same for every endpoint told of one event
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSONValue)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "webhook_delivery_status"), default=DeliveryStatus.pending
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # started so far; also the claim's fencing token
    # The next attempt, or (while an attempt is in flight) when its claim runs out.
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
