from __future__ import annotations

from pydantic import BaseModel, Field


class StudentCreate(BaseModel):
    external_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, max_length=320)


class RosterImport(BaseModel):
    students: list[StudentCreate] = Field(max_length=10_000)


class RosterImportResult(BaseModel):
    created: int
    updated: int
    unchanged: int
