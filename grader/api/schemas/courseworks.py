from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from grader.http.text import StoredText


class ReleaseCreate(BaseModel):
    note: StoredText = Field("", max_length=2000)


class CourseworkRead(BaseModel):
    code: str
    title: str
    weight: float
    deadline: dt.datetime | None
    timezone: str
    released_at: dt.datetime | None
    unassessed: bool = Field(
        False,
        description="weight 0, a tutorial: never part of a mark, every item visible, feedback as soon as graded",
    )
    suggested_by: dt.datetime | None = Field(
        None, description="a tutorial's soft deadline (UTC): a suggestion; nothing sent later is late"
    )
