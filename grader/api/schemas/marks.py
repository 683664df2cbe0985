from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel


class StudentItemRead(BaseModel):
    """One item as the student may see it: withheld fields are absent."""

    id: str
    title: str
    score: float | None = None
    max_score: float | None = None
    message: str | None = None
    comment: str | None = None


class StudentPenaltyRead(BaseModel):
    id: str
    title: str
    applied: bool | None = None
    points: float | None = None
    message: str | None = None


class StudentMarksRead(BaseModel):
    coursework: str
    released: bool
    status: str  # no_submission | pending | graded
    submission_id: uuid.UUID | None = None
    items: list[StudentItemRead]
    penalties: list[StudentPenaltyRead]
    total: float | None = None
    max_score: float | None = None
    late_minutes: int | None = None
    notes: list[str] | None = None
    complete: bool | None = None


class ItemLineRead(BaseModel):
    id: str
    score: float
    max_score: float
    source: str  # auto | override | manual | pending | unmarked
    auto_score: float | None


class StudentRowRead(BaseModel):
    """One student's counting submission as a marker sees it (under anonymous marking a GTA gets
    the pseudonym as ``name`` and no ``external_id``)."""

    external_id: str | None
    name: str
    pseudonym: str | None = None  # the coursework's label when marking is anonymous
    anonymous: bool = False  # True: name is the pseudonym
    status: str  # no_submission | pending | graded
    submission_id: uuid.UUID | None = None
    received_at: dt.datetime | None = None
    late_minutes: int | None = None
    late: str | None = None  # the late policy's verdict: "on time", "late, capped at 50%", "late, penalty waived" ...
    # The course system's reference on the submission (withheld from a GTA under anonymous marking).
    cate_submission_id: str | None = None
    labts_repository: str | None = None
    labts_commit: str | None = None
    run_id: int | None = None
    auto_score: float | None = None  # the run's score (auto items minus the run's penalties)
    items: list[ItemLineRead] = []
    penalties_applied: list[str] = []
    total: float | None = None
    max_score: float | None = None
    complete: bool | None = None


class CourseworkMarksRead(BaseModel):
    coursework: str
    released: bool
    students: list[StudentRowRead]
