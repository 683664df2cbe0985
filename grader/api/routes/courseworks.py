"""Marks (a student's own, and all of a coursework's), release, and the CSV export."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from grader.api.responses import ERRORS
from grader.api.schemas.courseworks import CourseworkRead, ReleaseCreate
from grader.api.schemas.marks import CourseworkMarksRead, ItemLineRead, StudentMarksRead, StudentRowRead
from grader.courseworks.models import Coursework
from grader.courseworks.service import coursework_by_code, is_released
from grader.http.deps import (
    CourseworkDep,
    CourseworkRef,
    CurrentExporter,
    CurrentLecturer,
    CurrentReader,
    CurrentStaff,
    ReadingStudent,
    SessionDep,
)
from grader.marking.anonymity import IdentityView, identity_view, rubric_file_names
from grader.marking.export import coursework_csv
from grader.marking.release import release_marks
from grader.marking.sheet import student_view, submission_marks
from grader.roster.models import Student
from grader.roster.service import roster
from grader.rubrics.model import Rubric
from grader.scoring.lateness import to_utc
from grader.submissions.references import reference_of

router = APIRouter(tags=["courseworks"])


def _coursework_read(row: Coursework, rubric: Rubric | None = None) -> CourseworkRead:
    soft = rubric.deadline if rubric is not None and rubric.unassessed else None
    return CourseworkRead(
        code=row.code,
        title=row.title,
        weight=row.weight,
        deadline=row.deadline,
        timezone=row.timezone,
        released_at=row.released_at,
        unassessed=row.weight == 0,
        suggested_by=to_utc(soft, rubric.timezone) if soft is not None and rubric is not None else None,
    )


@router.get("/courseworks", response_model=list[CourseworkRead], responses=ERRORS)
def list_courseworks(request: Request, session: SessionDep, owner: CurrentReader) -> list[CourseworkRead]:
    """Every coursework offered: the assessed ones first, then the tutorials (``unassessed``), by code."""
    found = []
    for code, files in request.app.state.courseworks.items():
        row = coursework_by_code(session=session, code=code)
        if row is not None:
            found.append(_coursework_read(row, files.rubric))
    return sorted(found, key=lambda c: (c.unassessed, c.code))


@router.get(
    "/courseworks/{cw}/marks/mine", response_model=StudentMarksRead, response_model_exclude_none=True, responses=ERRORS
)
def my_marks(session: SessionDep, coursework: CourseworkDep, acting: ReadingStudent) -> StudentMarksRead:
    """The calling student's marks: before release only what the rubric shows at once; the rest,
    manual marks, comments and the total once the marks are released."""
    rubric = coursework.files.rubric
    marks = submission_marks(session=session, rubric=rubric, coursework=coursework.row, student_id=acting.student.id)
    released = is_released(session=session, coursework=coursework.row, student_id=acting.student.id)
    return StudentMarksRead.model_validate(student_view(rubric, marks, released))


@router.get("/courseworks/{cw}/marks", response_model=CourseworkMarksRead, responses=ERRORS)
def all_marks(session: SessionDep, coursework: CourseworkDep, owner: CurrentStaff) -> CourseworkMarksRead:
    """Every enrolled student's counting submission: auto scores, markers' marks and the total.
    Roster order; under anonymous marking a GTA gets pseudonyms, in pseudonym order. A student-view
    token (a course system relaying to students) gets a student's marks only once they are released
    to that student; before, the submission and its status."""
    view = identity_view(
        session=session,
        coursework_id=coursework.row.id,
        reader_role=owner.user.role,
        safe_names=rubric_file_names(coursework.files.rubric),
    )
    students = roster(session=session)
    view.load(s.id for s in students)  # one read for the whole roster, not one per row
    students = view.ordered(students, lambda s: s.id)
    rows = [_row(session, coursework, s, view, owner.student_view) for s in students]
    return CourseworkMarksRead(
        coursework=coursework.row.code,
        released=coursework.row.released_at is not None or coursework.row.weight == 0,  # a tutorial: at once
        students=rows,
    )


def _row(
    session: Session, coursework: CourseworkRef, student: Student, view: IdentityView, student_view: bool
) -> StudentRowRead:
    marks = submission_marks(
        session=session, rubric=coursework.files.rubric, coursework=coursework.row, student_id=student.id
    )
    shown = view.student(student.id)
    row = StudentRowRead(
        external_id=shown.external_id,
        name=shown.name,
        pseudonym=shown.pseudonym,
        anonymous=shown.anonymous,
        status=marks.status,
    )
    if marks.submission is not None and not view.hides:  # a repository URL names its owner
        row = row.model_copy(update=reference_of(marks.submission).as_dict())
    if (
        marks.submission is not None
        and student_view
        and not is_released(session=session, coursework=coursework.row, student_id=student.id)
    ):
        return row.model_copy(
            update=dict(
                submission_id=marks.submission.id,
                received_at=marks.submission.received_at,
                late_minutes=marks.submission.late_minutes,
            )
        )
    if marks.submission is not None and marks.total is not None:
        t = marks.total
        row = row.model_copy(
            update=dict(
                submission_id=marks.submission.id,
                received_at=marks.submission.received_at,
                late_minutes=marks.submission.late_minutes,
                late=t.lateness.label,
                run_id=marks.run.id if marks.run else None,
                auto_score=marks.run.score if marks.run else None,
                items=[
                    ItemLineRead(
                        id=i.id, score=i.score, max_score=i.max_score, source=i.source, auto_score=i.auto_score
                    )
                    for i in t.items
                ],
                penalties_applied=[p.id for p in t.penalties if p.applied],
                total=t.total,
                max_score=t.max_score,
                complete=t.complete,
            )
        )
    return row


@router.post("/courseworks/{cw}/release", response_model=CourseworkRead, responses=ERRORS)
def release(
    request: Request,
    session: SessionDep,
    coursework: CourseworkDep,
    owner: CurrentLecturer,
    body: ReleaseCreate | None = None,
) -> CourseworkRead:
    """Release a coursework's marks to every student."""
    release_marks(  # with its marks.released webhook event
        session=session,
        coursework=coursework.row,
        released_by_id=owner.user.id,
        note=body.note if body else "",
        public_url=request.app.state.settings.public_url,
    )
    return _coursework_read(coursework.row, coursework.files.rubric)


@router.get(
    "/courseworks/{cw}/export.csv",
    response_class=Response,
    responses={
        **ERRORS,
        200: {"content": {"text/csv": {}}, "description": "one row per enrolled student, roster order"},
    },
)
def export_csv(session: SessionDep, coursework: CourseworkDep, owner: CurrentExporter) -> Response:
    """Every enrolled student in roster order, non-submitters included (status no_submission). For a
    student-view token a student's marks columns are empty until they are released to them."""
    body = coursework_csv(
        session=session, rubric=coursework.files.rubric, coursework=coursework.row, released_only=owner.student_view
    )
    name = f"{coursework.row.code}-marks.csv"
    return Response(
        body, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
