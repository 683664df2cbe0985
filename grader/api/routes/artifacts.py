"""A grading run's artifacts: the PNGs its hidden tests drew from the student's model's outputs.

Markers (GTAs, lecturers) see them at once; a student, and a course system acting for one, once the
coursework's marks are released to that student: they are results, like ``after_release`` items.
The PNG is served as an image only, never as a page: ``nosniff`` and a CSP that allows nothing.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.api.deps import BlobStoreDep, CurrentReader, SessionDep
from grader.api.responses import ERRORS
from grader.api.routes.submissions import visible_submission
from grader.api.schemas.artifacts import ArtifactRead
from grader.blobs import BlobNotFound
from grader.courseworks.models import Coursework
from grader.courseworks.service import is_released
from grader.runs.models import GradingRun, RunArtifact
from grader.users.models import Role
from grader.users.service import TokenOwner

router = APIRouter(tags=["artifacts"])
PNG_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'",
               "Cache-Control": "private"}
# Bounded like the columns they are looked up in: a larger id, or a name no test can save (a NUL
# in it), is refused as invalid (422) before it reaches the database, which would fail (500).
RunId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the grading run's id")]
ArtifactName = Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,64}$", description="the artifact's name, e.g. grid")]


def artifact_url(submission_id: uuid.UUID, run_id: int, name: str) -> str:
    return f"/api/v1/submissions/{submission_id}/runs/{run_id}/artifacts/{name}"


def artifact_reads(submission_id: uuid.UUID, run: GradingRun) -> list[ArtifactRead]:
    return [ArtifactRead(name=a.name, title=a.title, media_type=a.media_type, sha256=a.sha256,
                         size_bytes=a.size_bytes, url=artifact_url(submission_id, run.id, a.name))
            for a in run.artifacts]


def _run(session: Session, owner: TokenOwner, submission_id: uuid.UUID, run_id: int) -> GradingRun:
    sub = visible_submission(session, owner, submission_id)
    run = session.get(GradingRun, run_id)
    if run is None or run.submission_id != sub.id:
        raise HTTPException(404, "this submission has no such grading run.")
    if owner.user.role in (Role.student, Role.service):
        coursework = session.get(Coursework, sub.coursework_id)
        if not is_released(session=session, coursework=coursework, student_id=sub.student_id):
            raise HTTPException(403, "a run's artifacts are shown once the marks are released.")
    return run


@router.get("/submissions/{submission_id}/runs/{run_id}/artifacts", response_model=list[ArtifactRead],
            responses=ERRORS)
def list_artifacts(submission_id: uuid.UUID, run_id: RunId, session: SessionDep,
                   owner: CurrentReader) -> list[ArtifactRead]:
    """The run's artifacts in the order its tests saved them (students: after release)."""
    return artifact_reads(submission_id, _run(session, owner, submission_id, run_id))


@router.get("/submissions/{submission_id}/runs/{run_id}/artifacts/{name}", response_class=StreamingResponse,
            responses={**ERRORS, 200: {"content": {"image/png": {}}, "description": "the PNG"}})
def get_artifact(submission_id: uuid.UUID, run_id: RunId, name: ArtifactName, session: SessionDep, blobs: BlobStoreDep,
                 owner: CurrentReader) -> StreamingResponse:
    """One artifact's PNG (students: after release)."""
    run = _run(session, owner, submission_id, run_id)
    row = session.scalars(select(RunArtifact).where(RunArtifact.run_id == run.id, RunArtifact.name == name)).first()
    if row is None:
        raise HTTPException(404, "this run has no such artifact.")
    try:
        stream = blobs.open(row.blob_key)
    except BlobNotFound:
        raise HTTPException(500, "the stored artifact is missing; the service's operators have been told.") from None

    def chunks():
        with stream:
            while chunk := stream.read(1 << 20):
                yield chunk

    return StreamingResponse(chunks(), media_type=row.media_type, headers={
        **PNG_HEADERS, "Content-Length": str(row.size_bytes), "X-Content-SHA256": row.sha256,
        "Content-Disposition": f'inline; filename="{row.name}.png"'})
