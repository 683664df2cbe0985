from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from grader.http.text import REFUSE_NUL, StoredText, stored_field
from grader.webhooks.service import DEFAULT_EVENTS, MAX_SECRET_CHARS, MAX_URL_CHARS, MIN_SECRET_CHARS

Secret = Annotated[str, stored_field(min_length=MIN_SECRET_CHARS, max_length=MAX_SECRET_CHARS), REFUSE_NUL]


class WebhookCreate(BaseModel):
    url: StoredText = Field(max_length=MAX_URL_CHARS, description="http:// or https:// URL we POST events to")
    secret: Secret | None = Field(
        None,
        description="the shared HMAC key; leave it out and one is generated and returned once",
    )
    events: list[StoredText] = Field(default_factory=lambda: list(DEFAULT_EVENTS), max_length=10)
    description: StoredText = Field("", max_length=500)


class WebhookRead(BaseModel):
    """An endpoint as listed: never its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    description: str
    events: list[str]
    active: bool
    created_by_id: int | None
    created_at: dt.datetime
    view: str  # student: told only what the student may see; staff: everything


class WebhookCreated(WebhookRead):
    secret: str | None = Field(description="the generated secret, shown this once; null when you gave one")


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: uuid.UUID
    event_type: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    payload: dict[str, Any]
