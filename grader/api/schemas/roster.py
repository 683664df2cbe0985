from __future__ import annotations

import datetime as dt
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


class RosterImportReply(RosterImportResult):
    still_withdrawn: list[str] | None = Field(
        None,
        description="students in the import who are withdrawn: an import keeps them withdrawn (absent "
        "when none); reinstate one with DELETE /api/v1/roster/{external_id}/withdrawal",
    )


class WithdrawalWrite(BaseModel):
    on: Annotated[str, stored_field(max_length=64), REFUSE_NUL] | None = Field(
        None,
        description="when the student withdrew: a date (00:00 UTC that day) or an instant with an offset; "
        "absent: now. Never in the future. A student already withdrawn keeps their first date unless "
        "a different one is given here",
        examples=["2026-03-02", "2026-03-02T14:00:00+00:00"],
    )
    reason: StoredText = Field("", max_length=2000, description="kept in the audit log, never shown to students")


class RosterStudentRead(BaseModel):
    external_id: str
    name: str
    email: str | None
    enrolled_at: dt.datetime
    withdrawn_at: dt.datetime | None
    status: str  # enrolled or withdrawn


class WithdrawalRead(RosterStudentRead):
    changed: bool  # false: the student was already in this state (a repeat changes nothing)


class RosterRead(BaseModel):
    students: list[RosterStudentRead]  # roster order, withdrawn students included


class ErasureWrite(BaseModel):
    reason: Annotated[str, stored_field(min_length=1, max_length=1000), REFUSE_NUL] = Field(
        description="why: the student's request, or the retention period; kept in the audit log"
    )
    confirm: Annotated[str, stored_field(max_length=64), REFUSE_NUL] = Field(
        description="the student's external id again, as a guard against erasing the wrong person"
    )


class ErasureRead(BaseModel):
    external_id: str
    grounds: str = Field(description="request (the student was withdrawn) or retention (the period ran out)")
    rows: dict[str, int] = Field(description="rows deleted, per table")
    blobs_removed: int = Field(description="stored files no other row used, now deleted")
    blobs_kept: int = Field(description="stored files another row still uses (the same bytes uploaded by another)")
    audit_event_id: int | None
