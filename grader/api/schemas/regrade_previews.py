"""A lecturer's regrade preview over JSON (``grader.submissions.regrade_preview``)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from grader.runs.preview_models import RegradePreview
from grader.submissions.regrade_preview import PreviewReport, PreviewRow


class PreviewRead(BaseModel):
    id: int
    coursework: str
    status: str  # pending | applied | discarded
    hidden_digest: str  # the suite its runs grade with
    rubric_digest: str
    created_at: dt.datetime
    decided_at: dt.datetime | None

    @classmethod
    def of(cls, preview: RegradePreview, code: str) -> PreviewRead:
        return cls(
            id=preview.id,
            coursework=code,
            status=preview.status.value,
            hidden_digest=preview.hidden_digest,
            rubric_digest=preview.rubric_digest,
            created_at=preview.created_at,
            decided_at=preview.decided_at,
        )


class ItemDiffRead(BaseModel):
    id: str
    kind: str  # item | penalty (a penalty's applied points)
    old: float
    new: float
    delta: float


class PreviewStudentRead(BaseModel):
    external_id: str
    name: str
    submission_id: uuid.UUID
    run_id: int
    run_status: str  # the staged run's: queued | running | graded | error | cancelled | superseded
    state: str  # changed | unchanged | waiting (not finished) | failed (keeps the current mark)
    old_total: float | None  # the current total (None until the staged run is graded)
    new_total: float | None  # the total with the staged run
    delta: float | None
    max_score: float | None
    items: list[ItemDiffRead]  # the items and penalties whose score moves

    @classmethod
    def of(cls, row: PreviewRow) -> PreviewStudentRead:
        diff = row.diff
        return cls(
            external_id=row.student.external_id,
            name=row.student.name,
            submission_id=row.submission_id,
            run_id=row.run_id,
            run_status=row.run_status,
            state=row.state,
            old_total=diff.old if diff else None,
            new_total=diff.new if diff else None,
            delta=diff.delta if diff else None,
            max_score=diff.max_score if diff else None,
            items=[ItemDiffRead(id=i.id, kind=i.kind, old=i.old, new=i.new, delta=i.delta) for i in diff.items]
            if diff
            else [],
        )


class PreviewReportRead(PreviewRead):
    current_hidden_digest: str | None  # the suite on disk now: another than the preview's cannot be applied
    current_rubric_digest: str | None
    stale: bool
    counts: dict[str, int]  # state -> students
    changed: list[PreviewStudentRead]  # each student whose mark would change
    students: list[PreviewStudentRead]  # everyone in the preview, roster order

    @classmethod
    def of_report(cls, report: PreviewReport, code: str) -> PreviewReportRead:
        rows = [PreviewStudentRead.of(r) for r in report.rows]
        return cls(
            **PreviewRead.of(report.preview, code).model_dump(),
            current_hidden_digest=report.current.hidden if report.current else None,
            current_rubric_digest=report.current.rubric if report.current else None,
            stale=report.stale,
            counts=report.counts,
            changed=[r for r in rows if r.state == "changed"],
            students=rows,
        )


class PreviewApply(BaseModel):
    """The lecturer's confirmation: the number of students whose mark changes, as they read it. If
    more runs finished since, the counts differ and nothing is applied (read the preview again)."""

    changed: int = Field(ge=0, description="students with a changed mark in the preview you confirm")
