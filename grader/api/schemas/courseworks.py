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
