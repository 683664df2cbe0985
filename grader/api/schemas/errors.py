"""The one error body every route answers with (``app._error_handlers``)."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorRead(BaseModel):
    """``{"detail": "<a sentence>"}``: what was wrong, for the person who sent the request."""

    detail: str
