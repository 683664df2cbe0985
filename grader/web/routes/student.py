"""The student's pages: a coursework (upload, receipts, status, visible-test feedback), one
submission's receipt with its status followed live, and the feedback sheet once released."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from grader.courseworks.service import effective_deadline, is_released
from grader.grading.intake import SubmissionError
from grader.http.deps import BlobStoreDep, CourseworkRef, SessionDep
from grader.marking.feedback import NoFeedback, student_feedback
from grader.marking.queries import window_for
from grader.marking.query_views import outcomes
from grader.marking.sheet import marks_of_submission, student_view, submission_marks
from grader.runs.waits import run_wait, wait_text
from grader.scoring.lateness import to_utc
from grader.submissions.flows import (
    UploadTooLarge,
    check_bounds_of,
    hourly_limit_of,
    queue_grading,
    receive_upload,
    safe_filename,
)
from grader.submissions.models import Submission
from grader.submissions.quota import RateLimited
from grader.submissions.service import IdempotencyConflict, list_submissions
from grader.web.deps import WebError, WebStudent, WebUser
from grader.web.feedback import Weighting, student_weighting
from grader.web.lookups import coursework, courseworks, grading_state, own_submission
from grader.web.templating import TEMPLATES, render

router = APIRouter()


def _enrolled(user: WebUser) -> int:
    if user.student_id is None:
        raise WebError(403, "your account is not on this course's roster; ask the lecturer.")
    return user.student_id


def _coursework_page(
    request: Request, session: Session, user: WebUser, ref: CourseworkRef, *, error: str = "", status: int = 200
) -> Response:
    student_id = _enrolled(user)
    subs = list_submissions(session=session, student_id=student_id, coursework_id=ref.row.id)[::-1]  # newest first
    rows = [{"sub": s, "state": grading_state(session, s)} for s in subs]
    released = is_released(session=session, coursework=ref.row, student_id=student_id)
    marks = submission_marks(session=session, rubric=ref.files.rubric, coursework=ref.row, student_id=student_id)
    rubric = ref.files.rubric
    settings = request.app.state.settings
    return render(
        request,
        "student/coursework.html",
        {
            "cw": ref.row,
            "rubric": rubric,
            "submissions": rows,
            "released": released,
            # A tutorial's feedback is all of it, at once: the latest graded submission's, in full.
            "view": student_view(rubric, marks, released) if not released or rubric.unassessed else None,
            "tutorial": rubric.unassessed,
            "total": marks.total if marks.run is not None else None,  # graded: the latest run's total
            "per_hour": hourly_limit_of(settings, rubric),
            "suggested_by": to_utc(rubric.deadline, rubric.timezone) if rubric.unassessed and rubric.deadline else None,
            "counting_id": marks.submission.id if marks.submission else None,
            "deadline": effective_deadline(session=session, student_id=student_id, coursework_id=ref.row.id),
            "upload_key": uuid.uuid4().hex,
            "error": error,
        },
        status=status,
        user=user,
    )


@router.get("/courseworks/{cw}")
def coursework_page(request: Request, cw: str, session: SessionDep, user: WebStudent) -> Response:
    return _coursework_page(request, session, user, coursework(request, session, cw))


async def _upload_form(request: Request, user: WebStudent) -> AsyncIterator[FormData]:
    """The form, read only once the session is known (``File()``/``Form()`` parameters would be
    read before any dependency; ``web_user``'s CSRF check parsed it, this is the cached copy).
    Its temp files are closed after the route."""
    form = await request.form()
    try:
        yield form
    finally:
        await form.close()


@router.post("/courseworks/{cw}/submissions")
def upload(
    request: Request,
    cw: str,
    session: SessionDep,
    blobs: BlobStoreDep,
    user: WebStudent,
    form: Annotated[FormData, Depends(_upload_form)],
) -> Response:
    """The upload form. The form's one-off key makes a double-click or a resend one submission."""
    ref = coursework(request, session, cw)
    student_id = _enrolled(user)
    file, upload_key = form.get("file"), form.get("upload_key", "")
    if not isinstance(upload_key, str) or len(upload_key) > 64:
        raise WebError(400, "the form is damaged; reload the page and submit again.")
    if not isinstance(file, UploadFile) or not file.filename:
        return _coursework_page(request, session, user, ref, error="Choose a file to submit.", status=400)
    settings = request.app.state.settings
    try:
        sub, created = receive_upload(
            session=session,
            store=blobs,
            rubric=ref.files.rubric,
            coursework_id=ref.row.id,
            student_id=student_id,
            stream=file.file,
            original_filename=safe_filename(file.filename),
            max_bytes=settings.upload_max_mb * 2**20,
            limits=settings.execution,
            per_hour=hourly_limit_of(settings, ref.files.rubric),
            idempotency_key=f"web-{upload_key}" if upload_key else None,
            submitted_by_id=user.id,
            check_bounds=check_bounds_of(settings),
        )
    except UploadTooLarge as exc:
        return _coursework_page(request, session, user, ref, error=str(exc), status=413)
    except SubmissionError as exc:
        return _coursework_page(
            request, session, user, ref, error=f"Your submission was not accepted: {exc}", status=422
        )
    except IdempotencyConflict:
        return _coursework_page(
            request,
            session,
            user,
            ref,
            status=409,
            error="This form was already used for another file; submit again from this page.",
        )
    except RateLimited as exc:
        return _coursework_page(request, session, user, ref, error=str(exc), status=429)
    if created:
        request.app.state.metrics.uploaded(ref.row.code)
        queue_grading(
            session=session,
            submission_id=sub.id,
            queue=ref.files.rubric.resources.queue,
            precheck=True,
            supersede_grace_minutes=(ref.files.rubric.late_policy.grace_minutes if settings.fair_queue else None),
            run_queue=request.app.state.run_queue,
        )
    return RedirectResponse(f"/submissions/{sub.id}", status_code=303)


@router.get("/submissions/{submission_id}")
def submission_page(request: Request, submission_id: str, session: SessionDep, user: WebStudent) -> Response:
    sub = own_submission(session, user, submission_id)
    ref = coursework(request, session, _code(request, session, sub))
    return render(
        request,
        "student/submission.html",
        {"cw": ref.row, "sub": sub, "fragment": _status_html(request, session, ref, sub)[0]},
        user=user,
    )


@router.get("/submissions/{submission_id}/status")
def submission_status(request: Request, submission_id: str, session: SessionDep, user: WebStudent) -> JSONResponse:
    """The live part of the submission page, polled: {status, done, html}."""
    sub = own_submission(session, user, submission_id)
    ref = coursework(request, session, _code(request, session, sub))
    html, state = _status_html(request, session, ref, sub)
    return JSONResponse({"status": state.status, "done": state.done, "html": html})


def _code(request: Request, session: Session, sub: Submission) -> str:
    ref = next((r for r in courseworks(request, session) if r.row.id == sub.coursework_id), None)
    if ref is None:
        raise WebError(404, "this submission's coursework is no longer offered.")
    return ref.row.code


def _status_html(request: Request, session: Session, ref: CourseworkRef, sub: Submission):
    state = grading_state(session, sub)
    released = is_released(session=session, coursework=ref.row, student_id=sub.student_id)
    view = None
    tutorial = ref.files.rubric.unassessed
    # Before release: the visible tests' feedback only. A tutorial: this submission's, in full, at once.
    if state.status == "graded" and (not released or tutorial):
        view = student_view(
            ref.files.rubric, marks_of_submission(session=session, rubric=ref.files.rubric, sub=sub), released=released
        )
    html = TEMPLATES.get_template("student/_status.html").render(
        state=state,
        view=view,
        released=released and not tutorial,
        cw=ref.row,
        queue_text=_queue_text(session, state),
        tutorial=tutorial,
    )
    return html, state


def _queue_text(session: Session, state) -> str | None:
    """Where the student's own run waits ("queued: 3rd in line, result in about 2 min", "waiting for a
    GPU worker"); None unless it is queued."""
    if state.run is None or state.status != "queued":
        return None
    return wait_text(state.run.queue, run_wait(session=session, run=state.run), state.run.fallback_from)


@router.get("/courseworks/{cw}/feedback")
def feedback(request: Request, cw: str, session: SessionDep, user: WebStudent) -> Response:
    ref = coursework(request, session, cw)
    student_id = _enrolled(user)
    try:  # the one builder of the sheet, shared with the API's JSON copy for course systems
        sheet, marks = student_feedback(
            session=session, rubric=ref.files.rubric, coursework=ref.row, student_id=student_id
        )
    except NoFeedback as exc:
        raise WebError(404, str(exc)) from None
    unassessed = ref.files.rubric.unassessed
    return render(
        request,
        "student/feedback.html",
        {
            "cw": ref.row,
            "sheet": sheet,
            "sub": marks.submission,
            "unassessed": unassessed,
            "weighting": None if unassessed else _weighting(request, session, student_id),
            # Queries on the released mark: their outcomes, and the form while the window is open.
            "queries": outcomes(session=session, rubric=ref.files.rubric, coursework=ref.row, student_id=student_id),
            "window": None if unassessed else window_for(session=session, coursework=ref.row, student_id=student_id),
        },
        user=user,
    )


def _weighting(request: Request, session: Session, student_id: int) -> Weighting | None:
    """Each assessed coursework's weighted share of the coursework mark, from released totals only."""
    pairs = [(r.files.rubric, r.row) for r in courseworks(request, session)]
    return student_weighting(session=session, courseworks=pairs, student_id=student_id)
