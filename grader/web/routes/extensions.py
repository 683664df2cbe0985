"""The lecturer's extensions page for a coursework: every extension and mitigating circumstance,
forms to grant, change and revoke one, and a CSV import refused whole with a per-line report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from grader.courseworks import extensions
from grader.courseworks.cohort_extension import extend_cohort
from grader.courseworks.extension_csv import import_extensions
from grader.courseworks.extension_spec import BadDeadline, parse_deadline
from grader.http.deps import CourseworkRef, SessionDep
from grader.roster.models import Student
from grader.roster.service import student_by_external_id
from grader.web.deps import WebError, WebLecturer, WebUser
from grader.web.lookups import coursework
from grader.web.templating import render

router = APIRouter(prefix="/lecturer")
Text = Annotated[str, Form(max_length=2000)]
Short = Annotated[str, Form(max_length=64)]


def _student(session: Session, external_id: str) -> Student:
    student = student_by_external_id(session=session, external_id=external_id.strip())
    if student is None:
        raise WebError(404, f"no student with external id {external_id.strip()[:64]!r} is on the roster.")
    return student


def _page(
    request: Request,
    session: Session,
    user: WebUser,
    ref: CourseworkRef,
    *,
    problems: list[str] | None = None,
    csv_text: str = "",
    grant_problem: str = "",
    grant_form: dict[str, str] | None = None,
    cohort_problem: str = "",
    cohort_form: dict[str, str] | None = None,
    cohort_done: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "lecturer/extensions.html",
        {
            "cw": ref.row,
            "rows": extensions.adjustments(session=session, coursework_id=ref.row.id),
            "problems": problems or [],
            "csv_text": csv_text,
            "grant_problem": grant_problem,
            "grant_form": grant_form or {},
            "cohort_problem": cohort_problem,
            "cohort_form": cohort_form or {},
            "cohort_done": cohort_done,
        },
        status=status,
        user=user,
    )


def _back(cw: str) -> Response:
    return RedirectResponse(f"/lecturer/courseworks/{cw}/extensions", status_code=303)


@router.get("/courseworks/{cw}/extensions")
def extensions_page(request: Request, cw: str, session: SessionDep, user: WebLecturer) -> Response:
    return _page(request, session, user, coursework(request, session, cw))


@router.post("/courseworks/{cw}/extensions")
def grant(
    request: Request,
    cw: str,
    session: SessionDep,
    user: WebLecturer,
    external_id: Short,
    deadline: Short,
    reason: Text = "",
) -> Response:
    ref = coursework(request, session, cw)
    # A refusal shows the page again with the message beside the form and what was typed, not an error
    # page that loses it; the status stays the same (404 no such student, 400 a bad deadline).
    typed = {"external_id": external_id, "deadline": deadline, "reason": reason}
    try:
        student = _student(session, external_id)
        when = parse_deadline(deadline, coursework_deadline=ref.row.deadline, tz=ref.row.timezone)
    except WebError as exc:
        return _page(request, session, user, ref, grant_problem=exc.message, grant_form=typed, status=exc.status)
    except BadDeadline as exc:
        return _page(request, session, user, ref, grant_problem=f"{exc}.", grant_form=typed, status=400)
    extensions.grant(
        session=session, student=student, coursework=ref.row, deadline=when, reason=reason.strip(), actor_id=user.id
    )
    return _back(cw)


@router.post("/courseworks/{cw}/extensions/cohort")
def extend_whole_cohort(
    request: Request, cw: str, session: SessionDep, user: WebLecturer, deadline: Short, reason: Text = ""
) -> Response:
    """Deadline night: the new deadline for every student on the roster (``extend_cohort``)."""
    ref = coursework(request, session, cw)
    typed = {"deadline": deadline, "reason": reason}
    try:
        when = parse_deadline(deadline, coursework_deadline=ref.row.deadline, tz=ref.row.timezone)
        done = extend_cohort(
            session=session, coursework=ref.row, deadline=when, reason=reason.strip(), actor_id=user.id
        )
    except ValueError as exc:  # BadDeadline too
        return _page(request, session, user, ref, cohort_problem=f"{exc}.", cohort_form=typed, status=400)
    said = (
        f"Deadline {done.deadline.isoformat()} for the cohort: {done.granted} students extended, "
        f"{done.kept} kept a longer extension, {done.late_submissions} submissions still late."
    )
    return _page(request, session, user, ref, cohort_done=said)


@router.post("/courseworks/{cw}/extensions/{external_id}/revoke")
def revoke(request: Request, cw: str, external_id: str, session: SessionDep, user: WebLecturer) -> Response:
    ref = coursework(request, session, cw)
    try:
        extensions.revoke(session=session, student=_student(session, external_id), coursework=ref.row, actor_id=user.id)
    except extensions.NoExtension as exc:
        raise WebError(404, f"{exc}.") from None
    return _back(cw)


@router.post("/courseworks/{cw}/mitigations")
def record_mitigation(
    request: Request, cw: str, session: SessionDep, user: WebLecturer, external_id: Short, reason: Text = ""
) -> Response:
    ref = coursework(request, session, cw)
    extensions.record_mitigation(
        session=session,
        student=_student(session, external_id),
        coursework=ref.row,
        reason=reason.strip(),
        actor_id=user.id,
    )
    return _back(cw)


@router.post("/courseworks/{cw}/mitigations/{external_id}/withdraw")
def withdraw_mitigation(
    request: Request, cw: str, external_id: str, session: SessionDep, user: WebLecturer
) -> Response:
    ref = coursework(request, session, cw)
    try:
        extensions.withdraw_mitigation(
            session=session, student=_student(session, external_id), coursework=ref.row, actor_id=user.id
        )
    except LookupError as exc:
        raise WebError(404, f"{exc}.") from None
    return _back(cw)


@router.post("/courseworks/{cw}/extensions/import")
def import_csv(
    request: Request,
    cw: str,
    session: SessionDep,
    user: WebLecturer,
    csv_text: Annotated[str, Form(max_length=2_000_000)] = "",
) -> Response:
    """The CSV may name any coursework; the page it came from is shown again, with the report."""
    ref = coursework(request, session, cw)
    if "\x00" in csv_text:
        raise WebError(400, "the CSV holds a NUL character.")
    plan = import_extensions(session=session, text=csv_text, actor_id=user.id)
    if not plan.ok:
        return _page(request, session, user, ref, problems=plan.problems, csv_text=csv_text, status=422)
    return _back(cw)
