"""The lecturer's marking set-up for a coursework: the anonymous-marking switch, and allocating
students' work to markers (evenly at random with a seed, or one by one)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.http.deps import SessionDep
from grader.marking.allocations import (
    NotAMarker,
    allocate,
    allocate_evenly,
    allocations,
    is_anonymous,
    markers,
    set_anonymous,
)
from grader.roster.models import Student
from grader.roster.service import roster
from grader.submissions.models import Submission
from grader.web.deps import WebError, WebLecturer
from grader.web.lookups import coursework
from grader.web.templating import render

router = APIRouter(prefix="/lecturer")


def _int(value: str, what: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise WebError(400, f"{what} must be a whole number, not {value[:40]!r}.") from None


def _submitters(session: Session, coursework_id: int) -> list[int]:
    return list(
        session.scalars(select(Submission.student_id).where(Submission.coursework_id == coursework_id).distinct())
    )


@router.get("/courseworks/{cw}/marking")
def marking_setup(request: Request, cw: str, session: SessionDep, user: WebLecturer) -> Response:
    ref = coursework(request, session, cw)
    allocated = allocations(session=session, coursework_id=ref.row.id)
    submitted = set(_submitters(session, ref.row.id))
    staff = markers(session=session)
    counts = {m.id: sum(1 for v in allocated.values() if v == m.id) for m in staff}
    return render(
        request,
        "lecturer/marking.html",
        {
            "cw": ref.row,
            "anonymous": is_anonymous(session=session, coursework_id=ref.row.id),
            "markers": staff,
            "counts": counts,
            "students": roster(session=session),
            "allocated": allocated,
            "submitted": submitted,
        },
        user=user,
    )


@router.post("/courseworks/{cw}/anonymous")
def switch_anonymous(
    request: Request, cw: str, session: SessionDep, user: WebLecturer, anonymous: Annotated[str, Form()] = ""
) -> Response:
    ref = coursework(request, session, cw)
    if anonymous not in ("", "1"):
        raise WebError(400, "anonymous is 1 (on) or absent (off).")
    set_anonymous(session=session, coursework_id=ref.row.id, anonymous=anonymous == "1", by_user_id=user.id)
    return RedirectResponse(f"/lecturer/courseworks/{cw}/marking", status_code=303)


@router.post("/courseworks/{cw}/allocations/even")
def allocate_even(
    request: Request,
    cw: str,
    session: SessionDep,
    user: WebLecturer,
    marker: Annotated[list[str] | None, Form()] = None,
    seed: Annotated[str, Form()] = "",
) -> Response:
    """Every student with a submission, shuffled with the seed and dealt to the chosen markers in
    turn (replacing the coursework's allocations)."""
    ref = coursework(request, session, cw)
    marker_ids = [_int(m, "a marker") for m in marker or []]
    if not marker_ids:
        raise WebError(400, "choose at least one marker.")
    students = _submitters(session, ref.row.id)
    try:
        allocate_evenly(
            session=session,
            coursework_id=ref.row.id,
            student_ids=students,
            marker_ids=marker_ids,
            seed=_int(seed or "0", "the seed"),
            by_user_id=user.id,
        )
    except NotAMarker as exc:
        raise WebError(400, str(exc)) from None
    return RedirectResponse(f"/lecturer/courseworks/{cw}/marking", status_code=303)


@router.post("/courseworks/{cw}/allocations")
def allocate_one(
    request: Request,
    cw: str,
    session: SessionDep,
    user: WebLecturer,
    student: Annotated[str, Form()] = "",
    marker: Annotated[str, Form()] = "",
) -> Response:
    """One student's work to one marker (an empty marker: to nobody)."""
    ref = coursework(request, session, cw)
    row = session.get(Student, _int(student, "the student"))
    if row is None or row.withdrawn_at is not None:
        raise WebError(400, "there is no such student on the roster.")
    try:
        allocate(
            session=session,
            coursework_id=ref.row.id,
            student_id=row.id,
            marker_id=_int(marker, "the marker") if marker.strip() else None,
            by_user_id=user.id,
        )
    except NotAMarker as exc:
        raise WebError(400, str(exc)) from None
    return RedirectResponse(f"/lecturer/courseworks/{cw}/marking", status_code=303)
