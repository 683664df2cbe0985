"""Extensions and mitigating circumstances: lecturers grant, change and revoke them (one student, or
a CSV of many); markers read them (reasons withheld under anonymous marking); a student reads their
own deadline. Every change is audited (``grader.courseworks.extensions``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import Response
from sqlalchemy.orm import Session

from grader.api.responses import ERRORS
from grader.api.schemas.extensions import (
    AdjustmentRead,
    AdjustmentsRead,
    CohortExtensionRead,
    CohortExtensionWrite,
    ExtensionImport,
    ExtensionImportResult,
    ExtensionWrite,
    MitigationWrite,
    MyDeadlineRead,
)
from grader.courseworks import extensions
from grader.courseworks.cohort_extension import extend_cohort
from grader.courseworks.extension_csv import import_extensions
from grader.courseworks.extension_spec import BadDeadline, parse_deadline
from grader.courseworks.service import effective_deadline
from grader.http.deps import CourseworkDep, CurrentLecturer, ReadingStudent, Require, SessionDep
from grader.marking.anonymity import identity_view, rubric_file_names
from grader.roster.models import Student
from grader.roster.service import student_by_external_id
from grader.users.models import Role
from grader.users.service import TokenOwner

router = APIRouter(tags=["extensions"])
# Markers and lecturers; not service tokens, whose default view is the student's.
CurrentMarkerReader = Annotated[TokenOwner, Depends(Require(Role.gta, Role.lecturer, scope="read"))]
ExternalId = Annotated[str, Path(description="the student's external id", max_length=64)]
MAX_REPORTED = 50  # problems named in a refused import's reply


def _student(session: Session, external_id: str) -> Student:
    student = student_by_external_id(session=session, external_id=external_id)
    if student is None:
        raise HTTPException(404, f"no student with external id {external_id!r} is on the roster.")
    return student


@router.get("/courseworks/{cw}/extensions", response_model=AdjustmentsRead, responses=ERRORS)
def list_extensions(session: SessionDep, coursework: CourseworkDep, owner: CurrentMarkerReader) -> AdjustmentsRead:
    """Every student with an extension or mitigating circumstances on the coursework. While it is
    marked anonymously a GTA sees pseudonyms and no reasons."""
    view = identity_view(
        session=session,
        coursework_id=coursework.row.id,
        reader_role=owner.user.role,
        safe_names=rubric_file_names(coursework.files.rubric),
    )
    rows = extensions.adjustments(session=session, coursework_id=coursework.row.id)
    view.load(r.student_id for r in rows)
    out = []
    for r in view.ordered(rows, lambda r: r.student_id):
        shown = view.student(r.student_id)
        out.append(
            AdjustmentRead(
                external_id=shown.external_id,
                name=shown.name,
                pseudonym=shown.pseudonym,
                deadline=r.deadline,
                # A reason names illnesses, families, people: never shown to an anonymous marker.
                extension_reason=None if view.hides else r.extension_reason,
                penalty_waived=r.penalty_waived,
                mitigation_reason=None if view.hides else r.mitigation_reason,
            )
        )
    return AdjustmentsRead(
        coursework=coursework.row.code, deadline=coursework.row.deadline, timezone=coursework.row.timezone, students=out
    )


@router.put("/courseworks/{cw}/extensions/{external_id}", response_model=AdjustmentRead, responses=ERRORS)
def grant_extension(
    session: SessionDep,
    coursework: CourseworkDep,
    owner: CurrentLecturer,
    external_id: ExternalId,
    body: ExtensionWrite,
) -> AdjustmentRead:
    """Grant or change one student's extension. The late minutes of what they sent, the submission
    that counts and the late policy follow the new deadline at once."""
    student = _student(session, external_id)
    row = coursework.row
    try:
        deadline = parse_deadline(body.deadline, coursework_deadline=row.deadline, tz=row.timezone)
    except BadDeadline as exc:
        raise HTTPException(422, f"{exc}.") from None
    extensions.grant(
        session=session, student=student, coursework=row, deadline=deadline, reason=body.reason, actor_id=owner.user.id
    )
    return _one(session, row.id, student)


@router.post("/courseworks/{cw}/extensions/cohort", response_model=CohortExtensionRead, responses=ERRORS)
def extend_whole_cohort(
    session: SessionDep, coursework: CourseworkDep, owner: CurrentLecturer, body: CohortExtensionWrite
) -> CohortExtensionRead:
    """Deadline night: every student on the roster gets the new deadline as an extension, with the
    reason (an outage, say). Extensions already as long or longer are kept; the late minutes of
    every submission follow at once. Running it again with the same deadline changes nothing."""
    row = coursework.row
    try:
        deadline = parse_deadline(body.deadline, coursework_deadline=row.deadline, tz=row.timezone)
        done = extend_cohort(
            session=session, coursework=row, deadline=deadline, reason=body.reason, actor_id=owner.user.id
        )
    except (BadDeadline, ValueError) as exc:
        raise HTTPException(422, f"{exc}.") from None
    return CohortExtensionRead(
        coursework=done.coursework,
        deadline=done.deadline,
        granted=done.granted,
        kept=done.kept,
        late_submissions=done.late_submissions,
    )


@router.delete("/courseworks/{cw}/extensions/{external_id}", status_code=204, response_class=Response, responses=ERRORS)
def revoke_extension(
    session: SessionDep, coursework: CourseworkDep, owner: CurrentLecturer, external_id: ExternalId
) -> Response:
    """Revoke one student's extension: the coursework's deadline applies to them again."""
    student = _student(session, external_id)
    try:
        extensions.revoke(session=session, student=student, coursework=coursework.row, actor_id=owner.user.id)
    except extensions.NoExtension as exc:
        raise HTTPException(404, f"{exc}.") from None
    return Response(status_code=204)


@router.put("/courseworks/{cw}/mitigations/{external_id}", response_model=AdjustmentRead, responses=ERRORS)
def record_mitigation(
    session: SessionDep,
    coursework: CourseworkDep,
    owner: CurrentLecturer,
    external_id: ExternalId,
    body: MitigationWrite,
) -> AdjustmentRead:
    """Mitigating circumstances: the student's late penalty on this coursework is waived (the
    lateness is still recorded and shown to markers as "late, penalty waived")."""
    student = _student(session, external_id)
    extensions.record_mitigation(
        session=session, student=student, coursework=coursework.row, reason=body.reason, actor_id=owner.user.id
    )
    return _one(session, coursework.row.id, student)


@router.delete(
    "/courseworks/{cw}/mitigations/{external_id}", status_code=204, response_class=Response, responses=ERRORS
)
def withdraw_mitigation(
    session: SessionDep, coursework: CourseworkDep, owner: CurrentLecturer, external_id: ExternalId
) -> Response:
    """The late penalty applies to the student again."""
    student = _student(session, external_id)
    try:
        extensions.withdraw_mitigation(
            session=session, student=student, coursework=coursework.row, actor_id=owner.user.id
        )
    except LookupError as exc:
        raise HTTPException(404, f"{exc}.") from None
    return Response(status_code=204)


@router.post("/extensions/import", response_model=ExtensionImportResult, responses=ERRORS)
def import_csv(session: SessionDep, owner: CurrentLecturer, body: ExtensionImport) -> ExtensionImportResult:
    """Grant many extensions from CSV (external_id, coursework, deadline, reason). A file with any bad
    line (unknown student or coursework, a deadline that cannot be read or does not exist at a clock
    change) is refused whole, with every bad line named; nothing is stored."""
    plan = import_extensions(session=session, text=body.csv, actor_id=owner.user.id)
    if not plan.ok:
        named = plan.problems[:MAX_REPORTED]
        more = len(plan.problems) - len(named)
        raise HTTPException(
            422,
            "the file was refused and nothing was stored: "
            + "; ".join(named)
            + (f"; and {more} more lines" if more > 0 else "")
            + ".",
        )
    return ExtensionImportResult(granted=len(plan.extensions))


@router.get("/courseworks/{cw}/deadline/mine", response_model=MyDeadlineRead, responses=ERRORS)
def my_deadline(session: SessionDep, coursework: CourseworkDep, acting: ReadingStudent) -> MyDeadlineRead:
    """The calling student's deadline: the coursework's, or their extension's (never its reason)."""
    row = coursework.row
    deadline = effective_deadline(session=session, student_id=acting.student.id, coursework_id=row.id)
    return MyDeadlineRead(
        coursework=row.code,
        timezone=row.timezone,
        coursework_deadline=row.deadline,
        deadline=deadline,
        extended=deadline is not None and row.deadline is not None and deadline > row.deadline,
    )


def _one(session: Session, coursework_id: int, student: Student) -> AdjustmentRead:
    ext = extensions.extension_of(session=session, student_id=student.id, coursework_id=coursework_id)
    mit = extensions.mitigation_of(session=session, student_id=student.id, coursework_id=coursework_id)
    return AdjustmentRead(
        external_id=student.external_id,
        name=student.name,
        pseudonym=None,
        deadline=ext.deadline if ext else None,
        extension_reason=ext.reason if ext else None,
        penalty_waived=mit is not None,
        mitigation_reason=mit.reason if mit else None,
    )
