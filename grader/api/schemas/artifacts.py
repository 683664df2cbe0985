"""A run's artifacts: PNGs the hidden tests drew, for markers (and students as their items' visibility allows)."""

from __future__ import annotations

from pydantic import BaseModel


class ArtifactRead(BaseModel):
    name: str
    title: str
    media_type: str
    sha256: str
    size_bytes: int
    item_id: str | None = None  # the rubric item whose test drew it; None: no item's (markers only)
    url: str  # the PNG itself, under /api/v1
