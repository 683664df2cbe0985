"""The module's marks on the dashboard: the lecturer's table (each student's CW1, CW2, coursework,
exam and module mark), the registry and per-item CSVs, the module-release form; and a student's own
module marks. The numbers come from ``grader.marking.cohort`` as the API's do; the lecturer's page
reads the overview's kept rows (``OVERVIEW_ROWS``) rather than recomputing every coursework."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from grader.courseworks.models import Coursework
from grader.http.deps import SessionDep
from grader.http.module import served_courseworks
from grader.marking.cohort import CohortMarks, cohort_marks
from grader.marking.exam_marks import ExamImportRefused, import_exam_marks
from grader.marking.module_export import items_csv, module_table, registry_csv
from grader.marking.module_release import ModuleReleaseRefused, module_release, release_module, student_module_view
from grader.marking.overview import OverviewRow
from grader.marking.overview_rows import OVERVIEW_ROWS
from grader.roster.models import Student
from grader.rubrics.model import Rubric
from grader.scoring.rounding import ROUNDING_RULE
from grader.submissions.flows import safe_filename
from grader.web.deps import WebError, WebLecturer, WebStudent, WebUser
from grader.web.templating import render

router = APIRouter()


def _cohort(request: Request, session: Session, *, kept_rows: bool) -> CohortMarks:
    def kept(rubric: Rubric, coursework: Coursework, student_ids: Collection[int] | None) -> list[OverviewRow]:
        return OVERVIEW_ROWS.current(session=session, rubric=rubric, coursework=coursework).rows

    return cohort_marks(
        session=session, courseworks=served_courseworks(request, session), overview=kept if kept_rows else None
    )


def _page(
    request: Request,
    session: Session,
    user: WebUser,
    *,
    notice: str = "",
    problems: list[str] | None = None,
    status: int = 200,
) -> Response:
    table = module_table(_cohort(request, session, kept_rows=True))
    first = module_release(session=session)
    return render(
        request,
        "lecturer/module.html",
        {"table": table, "released": first, "notice": notice, "problems": problems or []},
        status=status,
        user=user,
    )


@router.get("/lecturer/module")
def module_page(request: Request, session: SessionDep, user: WebLecturer, imported: int | None = None) -> Response:
    notice = f"Imported {imported} exam marks." if imported is not None else ""
    return _page(request, session, user, notice=notice)


async def _form(request: Request, user: WebLecturer) -> AsyncIterator[FormData]:
    """The form, read once the session is known (the CSRF check parsed it; this is its cached copy)."""
    form = await request.form()
    try:
        yield form
    finally:
        await form.close()


@router.post("/lecturer/module/exam-marks")
def exam_import(
    request: Request, session: SessionDep, user: WebLecturer, form: Annotated[FormData, Depends(_form)]
) -> Response:
    """The exam marks file from the page's form: all or nothing, as the API and the CLI."""
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return _page(request, session, user, problems=["Choose a CSV file of exam marks."], status=400)
    try:
        text = file.file.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        return _page(
            request, session, user, problems=["The file is not UTF-8 text (save it as CSV UTF-8)."], status=400
        )
    try:
        result = import_exam_marks(session=session, text=text, actor_id=user.id, source=safe_filename(file.filename))
    except ExamImportRefused as exc:
        return _page(request, session, user, problems=exc.problems, status=422)
    return RedirectResponse(f"/lecturer/module?imported={result.rows}", status_code=303)


def _csv(body: str, name: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Rounding": ROUNDING_RULE},
    )


@router.get("/lecturer/module/registry.csv")
def registry(request: Request, session: SessionDep, user: WebLecturer) -> Response:
    return _csv(registry_csv(_cohort(request, session, kept_rows=False)), "module-registry.csv")


@router.get("/lecturer/module/items.csv")
def items(request: Request, session: SessionDep, user: WebLecturer) -> Response:
    return _csv(items_csv(_cohort(request, session, kept_rows=False)), "module-items.csv")


@router.post("/lecturer/module/release")
def release(
    request: Request, session: SessionDep, user: WebLecturer, note: Annotated[str, Form(max_length=500)] = ""
) -> Response:
    try:
        release_module(
            session=session, courseworks=served_courseworks(request, session), released_by_id=user.id, note=note.strip()
        )
    except ModuleReleaseRefused as exc:
        raise WebError(409, str(exc)) from None
    return RedirectResponse("/lecturer/module", status_code=303)


@router.get("/module")
def my_module(request: Request, session: SessionDep, user: WebStudent) -> Response:
    student = session.get(Student, user.student_id) if user.student_id is not None else None
    if student is None:
        raise WebError(403, "your account is not on this course's roster; ask the lecturer.")
    view = student_module_view(session=session, courseworks=served_courseworks(request, session), student=student)
    return render(request, "student/module.html", {"view": view}, user=user)
