"""Uploading, receipts, status, downloading exactly what was received, regrading."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from grader.api.content_disposition import content_disposition
from grader.api.references import upload_reference
from grader.api.responses import ERRORS, error
from grader.api.schemas.submissions import (
    PrecheckRead,
    QueueWaitRead,
    RegradeRead,
    RunRead,
    SubmissionRead,
    SubmissionReceipt,
)
from grader.api.uploads import UPLOAD_OPENAPI, uploaded_file
from grader.courseworks.models import Coursework
from grader.courseworks.service import is_released
from grader.grading.intake import SubmissionError
from grader.http.blob_responses import stream_blob
from grader.http.deps import (
    BlobStoreDep,
    CourseworkDep,
    CurrentMarker,
    CurrentReader,
    ReadingStudent,
    Require,
    SessionDep,
    SettingsDep,
    SubmittingStudent,
    stated_received_at,
)
from grader.marking.anonymity import IdentityView, identity_view, rubric_file_names
from grader.marking.sheet import submission_runs
from grader.roster.service import student_for_user
from grader.runs.models import GradingRun, RunKind
from grader.runs.waits import run_wait, wait_text
from grader.submissions.flows import (
    UploadTooLarge,
    check_bounds_of,
    grade_first,
    hourly_limit_of,
    queue_grading,
    receive_upload,
    safe_filename,
)
from grader.submissions.models import Submission
from grader.submissions.quota import RateLimited
from grader.submissions.references import ExternalRef, reference_of
from grader.submissions.service import IdempotencyConflict, list_submissions
from grader.users.models import Role
from grader.users.service import TokenOwner

router = APIRouter(tags=["submissions"])
# "Grade this first" reorders everyone's queue: lecturers alone, with the marking scope.
PriorityRaiser = Annotated[TokenOwner, Depends(Require(Role.lecturer, scope="mark"))]


def _receipt(sub: Submission, code: str) -> SubmissionReceipt:
    fields = ("id", "sha256", "size_bytes", "original_filename", "received_at", "stated_received_at", "late_minutes")
    return SubmissionReceipt(
        **{k: getattr(sub, k) for k in fields},
        **reference_of(sub).as_dict(),
        ignored_files=list(sub.ignored_files or []),
        coursework=code,
        late=sub.late_minutes > 0,
    )


@router.post(
    "/courseworks/{cw}/submissions",
    status_code=201,
    response_model=SubmissionReceipt,
    responses={
        **ERRORS,
        200: {"model": SubmissionReceipt, "description": "a retry: the receipt given before"},
        409: error("Idempotency-Key reused for another file"),
        413: error("file too large"),
        422: error("the file is not a valid submission"),
        429: error("too many upload attempts this hour"),
    },
    openapi_extra=UPLOAD_OPENAPI,
)
def submit(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    blobs: BlobStoreDep,
    coursework: CourseworkDep,
    acting: SubmittingStudent,
    stated: Annotated[dt.datetime | None, Depends(stated_received_at)],
    reference: Annotated[ExternalRef, Depends(upload_reference)],  # checked before the attempt counts
    file: Annotated[UploadFile, Depends(uploaded_file)],  # read after the token and the rate limit
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> SubmissionReceipt:
    """Submit a file. The reply is a receipt: once you have it, the file is stored."""
    metrics = request.app.state.metrics
    code = coursework.row.code
    try:
        sub, created = receive_upload(
            session=session,
            store=blobs,
            rubric=coursework.files.rubric,
            coursework_id=coursework.row.id,
            student_id=acting.student.id,
            stream=file.file,
            original_filename=safe_filename(file.filename),
            max_bytes=settings.upload_max_mb * 2**20,
            limits=settings.execution,
            per_hour=hourly_limit_of(settings, coursework.files.rubric),
            idempotency_key=idempotency_key or None,
            stated_received_at=stated if acting.by_service else None,
            submitted_by_id=acting.owner.user.id,
            check_bounds=check_bounds_of(settings),
            admitted=True,
            reference=reference,
        )
    except UploadTooLarge as exc:
        metrics.rejected(code, "too_large")
        raise HTTPException(413, str(exc)) from None
    except SubmissionError as exc:
        metrics.rejected(code, "invalid")
        raise HTTPException(422, f"your submission was not accepted: {exc}") from None
    except IdempotencyConflict as exc:
        metrics.rejected(code, "idempotency_conflict")
        raise HTTPException(409, str(exc)) from None
    except RateLimited as exc:
        metrics.rejected(code, "rate_limited")
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None
    receipt = _receipt(sub, code)
    if not created:
        response.status_code = 200
        return receipt
    metrics.uploaded(code)
    # The receipt is built from the committed row; queueing comes after and never undoes it.
    queue_grading(
        session=session,
        submission_id=sub.id,
        queue=coursework.files.rubric.resources.queue,
        precheck=True,
        supersede_grace_minutes=coursework.files.rubric.late_policy.grace_minutes if settings.fair_queue else None,
        run_queue=request.app.state.run_queue,
    )
    return receipt


def visible_submission(session: Session, owner: TokenOwner, submission_id: uuid.UUID) -> Submission:
    """The submission if this caller may see it. Another student's is 'not found', not 'forbidden'."""
    sub = session.get(Submission, submission_id)
    if sub is not None and owner.user.role is Role.student:
        own = student_for_user(session=session, user_id=owner.user.id)
        if own is None or own.id != sub.student_id:
            sub = None
    if sub is None:
        raise HTTPException(404, "no such submission.")
    return sub


def staff_view(request: Request, session: Session, owner: TokenOwner, sub: Submission) -> IdentityView | None:
    """How a marker may name this submission's student (None for the student themselves)."""
    if owner.user.role is Role.student:
        return None
    code = session.get_one(Coursework, sub.coursework_id).code  # a foreign key: the row is there
    files = request.app.state.courseworks.get(code)
    return identity_view(
        session=session,
        coursework_id=sub.coursework_id,
        reader_role=owner.user.role,
        safe_names=rubric_file_names(files.rubric) if files else (),
    )


def _run_read(run, sub: Submission, owner: TokenOwner, view: IdentityView | None, released: bool) -> RunRead:
    """One run as ``owner`` may see it: filtered by the visibility table for a student or a
    student-view token (``RunRead.of``), and without the student's name under anonymous marking."""
    read = RunRead.of(run, student_view=owner.student_view, released=released)
    if view is None or read.error is None:
        return read
    return read.model_copy(update={"error": view.text(read.error, sub.student_id, [sub.original_filename])})


def _read(session: Session, sub: Submission, owner: TokenOwner, view: IdentityView | None = None) -> SubmissionRead:
    """The submission as ``owner`` may see it (see ``_run_read``)."""
    coursework = session.get_one(Coursework, sub.coursework_id)  # a foreign key: the row is there
    runs = submission_runs(session=session, submission_id=sub.id)  # newest first
    full = [r for r in runs if r.kind is RunKind.full]
    checks = [r for r in runs if r.kind is RunKind.precheck]
    status = full[0].status.value if full else "received"
    released = owner.student_view and is_released(session=session, coursework=coursework, student_id=sub.student_id)
    receipt = _receipt(sub, coursework.code)
    precheck = PrecheckRead.from_run(checks[0]) if checks else None
    if view is not None:
        receipt.original_filename = view.filename(sub.original_filename)
        if view.hides:  # a repository URL names its owner; a CATe id leads straight to them
            receipt = receipt.model_copy(update=ExternalRef().as_dict())
            receipt.ignored_files = [
                view.text(p, sub.student_id, [sub.original_filename]) for p in receipt.ignored_files
            ]
        if precheck is not None:
            precheck.messages = [view.text(m, sub.student_id, [sub.original_filename]) for m in precheck.messages]
    return SubmissionRead(
        **receipt.model_dump(),
        status=status,
        precheck=precheck,
        queue=_queue_wait(session, full[0]) if full else None,
        runs=[_run_read(r, sub, owner, view, released) for r in runs],
    )


def _queue_wait(session: Session, run: GradingRun) -> QueueWaitRead | None:
    """The full run's own place in the queue and its ETA (``grader.runs.waits``), while it waits."""
    wait = run_wait(session=session, run=run)
    if wait is None:
        return None
    return QueueWaitRead(
        position=wait.position, eta_s=wait.eta_s, message=wait_text(run.queue, wait, run.fallback_from)
    )


@router.get("/submissions/{submission_id}", response_model=SubmissionRead, responses=ERRORS)
def get_submission(
    request: Request, submission_id: uuid.UUID, session: SessionDep, owner: CurrentReader
) -> SubmissionRead:
    """A submission's receipt and grading status. Students (and student-view tokens) get a run's
    full score only once the marks are released; before, its ``visible_score``. Under anonymous
    marking a GTA gets a neutral file name and texts without the student's name."""
    sub = visible_submission(session, owner, submission_id)
    return _read(session, sub, owner, staff_view(request, session, owner, sub))


@router.get("/submissions/{submission_id}/file", response_class=StreamingResponse, responses=ERRORS)
def download_submission(
    request: Request, submission_id: uuid.UUID, session: SessionDep, blobs: BlobStoreDep, owner: CurrentReader
) -> StreamingResponse:
    """Exactly the bytes received (under anonymous marking a GTA gets a neutral file name)."""
    sub = visible_submission(session, owner, submission_id)
    view = staff_view(request, session, owner, sub)
    name = view.filename(sub.original_filename) if view else sub.original_filename
    return stream_blob(
        blobs,
        sub.blob_key,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(name),
            "Content-Length": str(sub.size_bytes),
            "X-Content-SHA256": sub.sha256,
        },
    )


@router.get("/courseworks/{cw}/submissions/mine", response_model=list[SubmissionRead], responses=ERRORS)
def my_submissions(session: SessionDep, coursework: CourseworkDep, acting: ReadingStudent) -> list[SubmissionRead]:
    """The calling student's submissions for a coursework, oldest first."""
    subs = list_submissions(session=session, student_id=acting.student.id, coursework_id=coursework.row.id)
    return [_read(session, s, acting.owner) for s in subs]


@router.post("/submissions/{submission_id}/regrade", status_code=202, response_model=RegradeRead, responses=ERRORS)
def regrade(request: Request, submission_id: uuid.UUID, session: SessionDep, owner: CurrentMarker) -> RegradeRead:
    """Queue a new grading run (or return the one already queued or running)."""
    sub = visible_submission(session, owner, submission_id)
    code = session.get_one(Coursework, sub.coursework_id).code  # a foreign key: the row is there
    files = request.app.state.courseworks.get(code)
    queue = files.rubric.resources.queue if files else "cpu"
    run = queue_grading(
        session=session,
        submission_id=sub.id,
        queue=queue,
        requested_by_id=owner.user.id,
        run_queue=request.app.state.run_queue,
    )
    if run is None:
        raise HTTPException(503, "the regrade could not be queued; try again.")
    return RegradeRead(
        submission_id=sub.id, run=_run_read(run, sub, owner, staff_view(request, session, owner, sub), released=False)
    )


@router.post("/submissions/{submission_id}/priority", status_code=202, response_model=RegradeRead, responses=ERRORS)
def raise_run_priority(
    request: Request, submission_id: uuid.UUID, session: SessionDep, owner: PriorityRaiser
) -> RegradeRead:
    """Grade this submission ahead of the queue (lecturers): its queued run is claimed before any
    ordinary run; a run superseded by the student's newer submission is brought back, raised; with
    no run waiting, a raised one is queued. A run already being graded is returned as it is."""
    sub = visible_submission(session, owner, submission_id)
    code = session.get_one(Coursework, sub.coursework_id).code  # a foreign key: the row is there
    files = request.app.state.courseworks.get(code)
    run = grade_first(
        session=session,
        run_queue=request.app.state.run_queue,
        submission_id=sub.id,
        queue=files.rubric.resources.queue if files else "cpu",
        lecturer_id=owner.user.id,
    )
    if run is None:
        raise HTTPException(503, "the run could not be queued; try again.")
    return RegradeRead(
        submission_id=sub.id, run=_run_read(run, sub, owner, staff_view(request, session, owner, sub), released=False)
    )
