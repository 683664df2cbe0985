from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from grader.http.text import REFUSE_NUL, StoredText, stored_field


class StudentCreate(BaseModel):
    external_id: StoredText = Field(min_length=1, max_length=64)
    name: StoredText = Field(min_length=1, max_length=200)
    email: Annotated[str, stored_field(max_length=320), REFUSE_NUL] | None = None


class RosterImport(BaseModel):
    students: list[StudentCreate] = Field(max_length=10_000)


class RosterImportResult(BaseModel):
    created: int
    updated: int
    unchanged: int
