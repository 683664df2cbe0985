"""A grading run's artifacts: the PNGs its hidden tests drew from the student's model's outputs.

Markers (GTAs, lecturers, staff-view tokens) see every one at once. A student, and a course system
acting for one with the student view, see an artifact as the visibility table (docs/security.md) shows its item's
output (``grader.runs.artifact_view``): a visible item's at any time, an after-release item's once
the marks are released to that student, a hidden item's or one of no item never (not found).
The PNG is served as an image only, never as a page: ``nosniff`` and a CSP that allows nothing.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from grader.api.responses import ERRORS
from grader.api.routes.submissions import visible_submission
from grader.courseworks.models import Coursework
from grader.courseworks.service import is_released
from grader.http.blob_responses import stream_blob
from grader.http.deps import BlobStoreDep, CurrentReader, SessionDep
from grader.marking.desk import artifact_reads
from grader.marking.desk_models import ArtifactRead
from grader.runs.artifact_view import artifacts_for_reader
from grader.runs.models import GradingRun, RunArtifact
from grader.users.service import TokenOwner

router = APIRouter(tags=["artifacts"])
PNG_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'",
    "Cache-Control": "private",
}
# Bounded like the columns they are looked up in: a larger id, or a name no test can save (a NUL
# in it), is refused as invalid (422) before it reaches the database, which would fail (500).
RunId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the grading run's id")]
ArtifactName = Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,64}$", description="the artifact's name, e.g. grid")]


def artifact_url(submission_id: uuid.UUID, run_id: int, name: str) -> str:
    return f"/api/v1/submissions/{submission_id}/runs/{run_id}/artifacts/{name}"


def _run(session: Session, owner: TokenOwner, submission_id: uuid.UUID, run_id: int) -> tuple[GradingRun, bool]:
    """The run, if the caller may see its submission, and whether its marks are released to this
    reader (always False for staff, who see everything anyway)."""
    sub = visible_submission(session, owner, submission_id)
    run = session.get(GradingRun, run_id)
    if run is None or run.submission_id != sub.id or run.staged:  # a regrade preview's: nobody's yet
        raise HTTPException(404, "this submission has no such grading run.")
    released = owner.student_view and is_released(
        session=session, coursework=session.get_one(Coursework, sub.coursework_id), student_id=sub.student_id
    )
    return run, released


@router.get("/submissions/{submission_id}/runs/{run_id}/artifacts", response_model=list[ArtifactRead], responses=ERRORS)
def list_artifacts(
    submission_id: uuid.UUID, run_id: RunId, session: SessionDep, owner: CurrentReader
) -> list[ArtifactRead]:
    """The run's artifacts in the order its tests saved them; for a student only those the visibility
    table shows (a visible item's; an after-release item's once released)."""
    run, released = _run(session, owner, submission_id, run_id)
    return artifact_reads(
        submission_id, run, artifact_url, artifacts_for_reader(run, student_view=owner.student_view, released=released)
    )


@router.get(
    "/submissions/{submission_id}/runs/{run_id}/artifacts/{name}",
    response_class=StreamingResponse,
    responses={**ERRORS, 200: {"content": {"image/png": {}}, "description": "the PNG"}},
)
def get_artifact(
    submission_id: uuid.UUID,
    run_id: RunId,
    name: ArtifactName,
    session: SessionDep,
    blobs: BlobStoreDep,
    owner: CurrentReader,
) -> StreamingResponse:
    """One artifact's PNG, if the list would show it to this reader."""
    run, released = _run(session, owner, submission_id, run_id)
    row = _named(artifacts_for_reader(run, student_view=owner.student_view, released=released), name)
    if row is None:
        if (
            owner.student_view
            and not released
            and _named(artifacts_for_reader(run, student_view=True, released=True), name) is not None
        ):
            raise HTTPException(403, "this picture is shown once the marks are released.")
        raise HTTPException(404, "this run has no such artifact.")  # a hidden item's, too: it is never shown
    return stream_blob(
        blobs,
        row.blob_key,
        media_type=row.media_type,
        headers={
            **PNG_HEADERS,
            "Content-Length": str(row.size_bytes),
            "X-Content-SHA256": row.sha256,
            "Content-Disposition": f'inline; filename="{row.name}.png"',
        },
    )


def _named(artifacts: list[RunArtifact], name: str) -> RunArtifact | None:
    return next((a for a in artifacts if a.name == name), None)
