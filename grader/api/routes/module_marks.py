"""The module's marks: exam marks import, every student's coursework, exam and module marks, the
registry and per-item CSVs, the module-release action, and a student's own module marks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from grader.api.responses import ERRORS, error
from grader.api.schemas.module import (
    ExamImport,
    ExamImportRead,
    ModuleMarksRead,
    ModuleReleaseCreate,
    ModuleReleaseRead,
    MyModuleMarksRead,
)
from grader.http.deps import CurrentLecturer, ReadingStudent, Require, SessionDep
from grader.http.module import served_courseworks
from grader.marking.cohort import cohort_marks
from grader.marking.exam_marks import ExamImportRefused, import_exam_marks
from grader.marking.module_export import items_csv, module_table, registry_csv
from grader.marking.module_release import ModuleReleaseRefused, module_release, release_module, student_module_view
from grader.scoring.rounding import ROUNDING_RULE
from grader.users.models import Role
from grader.users.service import TokenOwner

router = APIRouter(tags=["module"])

# Module marks name every student with every mark: the lecturer's alone.
LecturerReader = Annotated[TokenOwner, Depends(Require(Role.lecturer, scope="read"))]
LecturerExporter = Annotated[TokenOwner, Depends(Require(Role.lecturer, scope="export"))]
CSV_REPLY: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "one row per student on the roster, roster order"}
}


def _csv(body: str, name: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Rounding": ROUNDING_RULE},
    )


@router.post(
    "/module/exam-marks",
    response_model=ExamImportRead,
    responses={**ERRORS, 422: error("the file was refused, nothing stored: every bad line named")},
)
def import_exams(body: ExamImport, session: SessionDep, owner: CurrentLecturer) -> ExamImportRead:
    """Import exam marks (CSV text: external_id, mark 0..100). All or nothing: an id not on the
    roster, a duplicate line or a mark that is not a number from 0 to 100 refuses the whole file,
    with every bad line named, and stores nothing. A student's new mark replaces the old one; the
    audit log keeps both."""
    try:
        result = import_exam_marks(session=session, text=body.csv, actor_id=owner.user.id, source=body.source)
    except ExamImportRefused as exc:
        raise HTTPException(422, str(exc)) from None
    return ExamImportRead(rows=result.rows, created=result.created, updated=result.updated, unchanged=result.unchanged)


@router.get("/module/marks", response_model=ModuleMarksRead, responses=ERRORS)
def module_marks(request: Request, session: SessionDep, owner: LecturerReader) -> ModuleMarksRead:
    """Every student on the roster (the withdrawn too): each assessed coursework's counted total,
    the coursework mark (the rubrics' weights), the exam mark and the module mark (50/50), rounded
    half up to 2 places as ``rounding`` says."""
    cohort = cohort_marks(session=session, courseworks=served_courseworks(request, session))
    first = module_release(session=session)
    return ModuleMarksRead.model_validate({**module_table(cohort), "released_at": first.released_at if first else None})


@router.get("/module/registry.csv", response_class=Response, responses={**ERRORS, **CSV_REPLY})
def registry_export(request: Request, session: SessionDep, owner: LecturerExporter) -> Response:
    """The registry's file: one row per student on the roster, non-submitters and withdrawn students
    included (status enrolled or withdrawn), weighted marks, the rounding rule in its last column."""
    cohort = cohort_marks(session=session, courseworks=served_courseworks(request, session))
    return _csv(registry_csv(cohort), "module-registry.csv")


@router.get("/module/items.csv", response_class=Response, responses={**ERRORS, **CSV_REPLY})
def items_export(request: Request, session: SessionDep, owner: LecturerExporter) -> Response:
    """Per-item marks of every counting submission, for moderation and external examiners."""
    cohort = cohort_marks(session=session, courseworks=served_courseworks(request, session))
    return _csv(items_csv(cohort), "module-items.csv")


@router.post(
    "/module/release",
    response_model=ModuleReleaseRead,
    responses={**ERRORS, 409: error("there is no assessed coursework")},
)
def release(
    request: Request, session: SessionDep, owner: CurrentLecturer, body: ModuleReleaseCreate | None = None
) -> ModuleReleaseRead:
    """Release module marks (exam and module mark) to students. A student sees them once every
    assessed coursework's marks are released to them too (``waiting_for`` lists those still
    unreleased to the cohort). Releasing again keeps the first time."""
    pairs = served_courseworks(request, session)
    try:
        first = release_module(
            session=session,
            courseworks=pairs,
            released_by_id=owner.user.id,
            note=body.note if body else "",
        )
    except ModuleReleaseRefused as exc:
        raise HTTPException(409, str(exc)) from None
    waiting = [c.code for r, c in pairs if r.weight > 0 and c.released_at is None]
    return ModuleReleaseRead(released_at=first.released_at, note=first.note, waiting_for=waiting)


@router.get("/module/marks/mine", response_model=MyModuleMarksRead, response_model_exclude_none=True, responses=ERRORS)
def my_module_marks(request: Request, session: SessionDep, acting: ReadingStudent) -> MyModuleMarksRead:
    """The calling student's coursework mark once every assessed coursework is released to them;
    their exam and module mark once the lecturer releases module marks. Before, those keys are absent."""
    view = student_module_view(
        session=session, courseworks=served_courseworks(request, session), student=acting.student
    )
    return MyModuleMarksRead.model_validate(view)
