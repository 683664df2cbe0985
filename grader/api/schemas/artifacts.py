"""A run's artifacts: PNGs the hidden tests drew, for markers (and students after release)."""

from __future__ import annotations

from pydantic import BaseModel


class ArtifactRead(BaseModel):
    name: str
    title: str
    media_type: str
    sha256: str
    size_bytes: int
    url: str  # the PNG itself, under /api/v1
