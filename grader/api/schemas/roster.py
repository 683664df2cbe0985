from __future__ import annotations

from pydantic import BaseModel, Field

from grader.http.text import StoredText, stored_text


class StudentCreate(BaseModel):
    external_id: StoredText = Field(min_length=1, max_length=64)
    name: StoredText = Field(min_length=1, max_length=200)
    email: stored_text(max_length=320) | None = None


class RosterImport(BaseModel):
    students: list[StudentCreate] = Field(max_length=10_000)


class RosterImportResult(BaseModel):
    created: int
    updated: int
    unchanged: int
