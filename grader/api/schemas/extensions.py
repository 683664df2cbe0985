from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, Field

from grader.http.text import REFUSE_NUL, StoredText, stored_field


class ExtensionWrite(BaseModel):
    deadline: Annotated[str, stored_field(min_length=1, max_length=64), REFUSE_NUL] = Field(
        description="the new deadline: '+N minutes' (also +N hours, +N days) from the coursework's "
        "deadline, an ISO instant with an offset, or a local wall time in the coursework's timezone",
        examples=["+1440 minutes", "2026-03-30 16:00", "2026-03-30T16:00:00+01:00"],
    )
    reason: StoredText = Field("", max_length=2000)


class CohortExtensionWrite(BaseModel):
    deadline: Annotated[str, stored_field(min_length=1, max_length=64), REFUSE_NUL] = Field(
        description="the cohort's new deadline, written as in ExtensionWrite ('+2 hours' counts from the "
        "coursework's deadline)",
        examples=["+2 hours", "2026-03-30 18:00"],
    )
    reason: Annotated[str, stored_field(min_length=1, max_length=2000), REFUSE_NUL] = Field(
        description="why the whole cohort's deadline moved (an outage, say); kept in the audit log",
        examples=["the upload service was down 15:10-15:55"],
    )


class CohortExtensionRead(BaseModel):
    coursework: str
    deadline: dt.datetime
    granted: int = Field(description="students whose deadline moved to the new one")
    kept: int = Field(description="students whose own extension already ran as long or longer (kept)")
    late_submissions: int = Field(description="the coursework's submissions still late afterwards")


class MitigationWrite(BaseModel):
    reason: StoredText = Field("", max_length=2000)


class ExtensionImport(BaseModel):
    csv: Annotated[str, stored_field(min_length=1, max_length=2_000_000), REFUSE_NUL] = Field(
        description="CSV text: external_id, coursework, deadline (as in ExtensionWrite), reason; a header line is optional",
        examples=["external_id,coursework,deadline,reason\ns1,cwa,+2 days,illness (GP letter)\n"],
    )


class ExtensionImportResult(BaseModel):
    granted: int


class AdjustmentRead(BaseModel):
    """One student's extension and mitigating circumstances. Reasons are withheld (null) from a
    marker while the coursework is marked anonymously, and the student is named by pseudonym."""

    external_id: str | None
    name: str
    pseudonym: str | None
    deadline: dt.datetime | None
    extension_reason: str | None
    penalty_waived: bool
    mitigation_reason: str | None


class AdjustmentsRead(BaseModel):
    coursework: str
    deadline: dt.datetime | None
    timezone: str
    students: list[AdjustmentRead]


class MyDeadlineRead(BaseModel):
    coursework: str
    timezone: str
    coursework_deadline: dt.datetime | None
    deadline: dt.datetime | None  # the calling student's: their extension applied
    extended: bool
