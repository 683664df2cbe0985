"""Queries after release: what a student sends and reads, what a marker reads and answers with."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, Field

from grader.http.text import REFUSE_NUL, stored_field

Message = Annotated[str, stored_field(min_length=1, max_length=4000), REFUSE_NUL]


class QueryWrite(BaseModel):
    item_id: Annotated[str, stored_field(min_length=1, max_length=64), REFUSE_NUL] = Field(
        description="the rubric item queried, as on the feedback sheet", examples=["essay"]
    )
    message: Message = Field(
        description="what should be looked at again, and why", examples=["My discussion of overfitting was not marked."]
    )


class QueryAnswer(BaseModel):
    answer: Message = Field(description="the answer, shown to the student on their feedback sheet")
    score: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = Field(
        None,
        description="the item's new score (through the marks' history, as an override or mark); "
        "absent or null: the mark stands",
    )


class QueryWindowWrite(BaseModel):
    days: Annotated[int, Field(strict=True, ge=0, le=365)] | None = Field(
        description="queries are taken for this many days after the marks' release; null: closed", examples=[14]
    )


class QueryWindowRead(BaseModel):
    coursework: str
    days: int | None


class QueryRead(BaseModel):
    """A query as its student sees it: the outcome once answered (the answer, the score before and after)."""

    id: int
    item_id: str
    item_title: str
    message: str
    status: str = Field(description="open or answered")
    raised_at: dt.datetime
    answer: str | None
    answered_at: dt.datetime | None
    old_score: float | None
    new_score: float | None
    max_score: float | None


class MyQueriesRead(BaseModel):
    coursework: str
    window_open: bool
    window_closes_at: dt.datetime | None
    window: str = Field(description="a sentence: whether queries are open, and until when")
    queries: list[QueryRead]


class StaffQueryRead(QueryRead):
    """A query as a marker sees it; the student by pseudonym for a GTA under anonymous marking."""

    coursework: str
    submission_id: uuid.UUID
    student_name: str
    external_id: str | None
    pseudonym: str | None
    assigned_to: str | None = Field(description="the marker's username; null: the lecturers")
    answered_by: str | None


class StaffQueriesRead(BaseModel):
    coursework: str
    window_days: int | None
    queries: list[StaffQueryRead]
