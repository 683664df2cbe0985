"""The lecturer's pages: release a coursework's marks, regrade one or all submissions with the
progress shown live, the queue (each queue's workers, runs waiting and superseded, "grade this
first"), and the marks CSV."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework
from grader.http.deps import CourseworkRef, SessionDep
from grader.marking.export import coursework_csv
from grader.marking.progress import coursework_progress
from grader.marking.release import release_marks
from grader.roster.service import roster
from grader.runs.waits import coursework_waiting_runs, queue_states
from grader.submissions.flows import grade_first, queue_grading
from grader.submissions.models import Submission
from grader.submissions.service import counting_submission
from grader.web.deps import WebError, WebLecturer, WebStaff
from grader.web.lookups import coursework, grading_state
from grader.web.templating import TEMPLATES, render

router = APIRouter(prefix="/lecturer")


def _counting(session: Session, ref: CourseworkRef) -> list[tuple[object, Submission | None]]:
    grace = ref.files.rubric.late_policy.grace_minutes
    return [
        (s, counting_submission(session=session, student_id=s.id, coursework_id=ref.row.id, grace_minutes=grace))
        for s in roster(session=session)
    ]


@router.get("/courseworks/{cw}")
def coursework_admin(request: Request, cw: str, session: SessionDep, user: WebLecturer) -> Response:
    ref = coursework(request, session, cw)
    rows = [
        {"student": s, "sub": sub, "state": grading_state(session, sub) if sub else None}
        for s, sub in _counting(session, ref)
    ]
    return render(
        request,
        "lecturer/coursework.html",
        {
            "cw": ref.row,
            "rows": rows,
            "progress_html": _progress_html(session, ref)[0],
            "queues": queue_states(session=session),
            "waiting": coursework_waiting_runs(session=session, coursework_id=ref.row.id),
            "names": {s.id: s.name for s in roster(session=session)},
        },
        user=user,
    )


@router.get("/courseworks/{cw}/progress")
def progress(request: Request, cw: str, session: SessionDep, user: WebLecturer) -> JSONResponse:
    html, prog = _progress_html(session, coursework(request, session, cw))
    return JSONResponse({"done": prog.done, "counts": prog.counts, "submissions": prog.submissions, "html": html})


def _progress_html(session: Session, ref: CourseworkRef):
    prog = coursework_progress(session=session, coursework_id=ref.row.id)
    return TEMPLATES.get_template("lecturer/_progress.html").render(progress=prog), prog


@router.post("/courseworks/{cw}/release")
def release(
    request: Request, cw: str, session: SessionDep, user: WebLecturer, note: Annotated[str, Form(max_length=500)] = ""
) -> Response:
    ref = coursework(request, session, cw)
    release_marks(  # with its marks.released webhook event
        session=session,
        coursework=ref.row,
        released_by_id=user.id,
        note=note.strip(),
        public_url=request.app.state.settings.public_url,
    )
    return RedirectResponse(f"/lecturer/courseworks/{cw}", status_code=303)


@router.post("/courseworks/{cw}/regrade")
def regrade_all(request: Request, cw: str, session: SessionDep, user: WebLecturer) -> Response:
    """A new run for every counting submission (one already queued or running is left as it is)."""
    ref = coursework(request, session, cw)
    for _, sub in _counting(session, ref):
        if sub is not None:
            queue_grading(
                session=session,
                submission_id=sub.id,
                queue=ref.files.rubric.resources.queue,
                requested_by_id=user.id,
                run_queue=request.app.state.run_queue,
            )
    return RedirectResponse(f"/lecturer/courseworks/{cw}", status_code=303)


@router.post("/submissions/{submission_id}/regrade")
def regrade_one(request: Request, submission_id: str, session: SessionDep, user: WebStaff) -> Response:
    """GTAs too (as in the API): a marker who doubts a run may ask for another."""
    sub, ref = _submission_and_coursework(request, session, submission_id)
    code = ref.row.code
    if (
        queue_grading(
            session=session,
            submission_id=sub.id,
            queue=ref.files.rubric.resources.queue,
            requested_by_id=user.id,
            run_queue=request.app.state.run_queue,
        )
        is None
    ):
        raise WebError(503, "the regrade could not be queued; try again.")
    back = request.headers.get("referer", "")
    host = f"{request.url.scheme}://{request.url.netloc}/"
    return RedirectResponse(back if back.startswith(host) else f"/lecturer/courseworks/{code}", status_code=303)


@router.post("/submissions/{submission_id}/priority")
def grade_submission_first(request: Request, submission_id: str, session: SessionDep, user: WebLecturer) -> Response:
    """Lecturers alone (as in the API): this submission's run ahead of the queue; a superseded one back in it."""
    sub, ref = _submission_and_coursework(request, session, submission_id)
    code = ref.row.code
    run = grade_first(
        session=session,
        run_queue=request.app.state.run_queue,
        submission_id=sub.id,
        queue=ref.files.rubric.resources.queue,
        lecturer_id=user.id,
    )
    if run is None:
        raise WebError(503, "the run could not be queued; try again.")
    return RedirectResponse(f"/lecturer/courseworks/{code}#queue", status_code=303)


@router.get("/courseworks/{cw}/export.csv")
def export(request: Request, cw: str, session: SessionDep, user: WebLecturer) -> Response:
    ref = coursework(request, session, cw)
    body = coursework_csv(session=session, rubric=ref.files.rubric, coursework=ref.row)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{ref.row.code}-marks.csv"'},
    )


def _submission_and_coursework(
    request: Request, session: Session, submission_id: str
) -> tuple[Submission, CourseworkRef]:
    """The submission a form names (404 when there is none) and its coursework."""
    try:
        sub = session.get(Submission, uuid.UUID(submission_id))
    except ValueError:
        sub = None
    if sub is None:
        raise WebError(404, "there is no such submission.")
    code = session.get_one(Coursework, sub.coursework_id).code  # a foreign key: the row is there
    return sub, coursework(request, session, code)
