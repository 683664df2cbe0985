"""The module's marks: exam import, the lecturer's table, a student's own view."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, Field

from grader.http.text import REFUSE_NUL, stored_field


class ExamImport(BaseModel):
    csv: Annotated[str, stored_field(min_length=1, max_length=1_000_000), REFUSE_NUL] = Field(
        description="the file's text: a header naming external_id and mark (0..100), one line per student",
        examples=["external_id,mark\ns1,70\n"],
    )
    source: Annotated[str, stored_field(max_length=200), REFUSE_NUL] = Field(
        "", description="the file's name, kept with each mark"
    )


class ExamImportRead(BaseModel):
    rows: int
    created: int
    updated: int
    unchanged: int


class ModuleReleaseCreate(BaseModel):
    note: Annotated[str, stored_field(max_length=500), REFUSE_NUL] = ""


class ModuleReleaseRead(BaseModel):
    released_at: dt.datetime
    note: str
    waiting_for: list[str] = Field(
        description="assessed courseworks not yet released to the cohort: until they are, their students see no module mark"
    )


class CourseworkHead(BaseModel):
    code: str
    title: str
    weight: float
    released: bool


class CourseworkCellRead(BaseModel):
    code: str
    status: str  # the overview's: no_submission, queued, running, graded, error; or withdrawn
    submission_id: uuid.UUID | None = None
    late_minutes: int | None = None
    total: float | None = None
    max_score: float | None = None
    percent: float | None = None  # rounded half up to 2 places
    weighted: float | None = None  # weight x percent, rounded half up to 2 places
    final: bool


class StudentModuleRead(BaseModel):
    external_id: str
    name: str
    status: str  # enrolled or withdrawn
    withdrawn_at: dt.datetime | None = None
    courseworks: list[CourseworkCellRead]
    coursework_mark: float | None = None
    exam_mark: float | None = None
    module_mark: float | None = None
    module_mark_final: int | None = None
    complete: bool


class ModuleMarksRead(BaseModel):
    rounding: str
    split: dict[str, float] = Field(description="the module mark's make-up: coursework and exam")
    weights: dict[str, float] | None = Field(description="each assessed coursework's weight in the coursework mark")
    problem: str | None = None
    released_at: dt.datetime | None = Field(None, description="when module marks were released to students")
    courseworks: list[CourseworkHead]
    students: list[StudentModuleRead]


class MyCourseworkRead(BaseModel):
    code: str
    title: str
    weight: float
    released: bool


class MyModuleMarksRead(BaseModel):
    courseworks: list[MyCourseworkRead]
    coursework_mark_released: bool
    module_released: bool
    rounding: str
    coursework_mark: float | None = None
    exam_mark: float | None = None
    module_mark: float | None = None
    module_mark_final: int | None = None
