"""What the course systems (CATe, LabTS) need beyond the generic API: finding a submission by their
own reference, and a student's released feedback sheet as JSON (the same sheet the student's page
shows: ``grader.marking.feedback``). docs/cate-labts.md walks through a deadline with them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel

from grader.api.responses import ERRORS
from grader.api.schemas.queries import QueryRead
from grader.http.deps import CourseworkDep, Require, SessionDep
from grader.http.module import served_courseworks
from grader.marking.feedback import NoFeedback, Sheet, Weighting, student_feedback, student_weighting
from grader.marking.query_views import outcomes
from grader.roster.models import Student
from grader.roster.service import student_by_external_id
from grader.runs.models import RunKind
from grader.runs.service import latest_graded_run
from grader.submissions.references import (
    COMMIT,
    ExternalRef,
    ReferenceInvalid,
    check_repository,
    find_by_reference,
    parse_reference,
    reference_of,
)
from grader.users.models import Role
from grader.users.service import TokenOwner

router = APIRouter(tags=["course systems"])
# The course systems and the lecturer; never a GTA (the reference may name a student under
# anonymous marking) and never a student.
CourseSystem = Annotated[TokenOwner, Depends(Require(Role.lecturer, Role.service, scope="read"))]


class ReferencedSubmission(BaseModel):
    id: uuid.UUID
    coursework: str
    student_external_id: str
    received_at: dt.datetime
    late_minutes: int
    sha256: str
    cate_submission_id: str | None
    labts_repository: str | None
    labts_commit: str | None
    ignored_files: list[str]
    graded: bool  # a full run has graded it (its marks: GET /courseworks/{cw}/marks)


class WeightingLine(BaseModel):
    coursework: str
    title: str
    weight: float  # its share of the coursework mark (CW1 0.4, CW2 0.6)
    released: bool  # False: its total is not released to the student yet, so it counts 0 so far
    score: float | None  # the released total (None until released)
    max_score: float | None
    contribution: float  # weight x score / max x 100, in percentage points


class WeightingRead(BaseModel):
    """The "Coursework mark" table under the sheet: the released totals' weighted shares."""

    mark: float  # 0..100
    so_far: bool  # True while some assessed coursework is not released to the student
    courseworks: list[WeightingLine]


class FeedbackRead(BaseModel):
    """A student's released feedback sheet, exactly what their feedback page shows."""

    coursework: str
    student_external_id: str
    submission_id: uuid.UUID
    sheet: Sheet
    weighting: WeightingRead | None  # None for a tutorial, or when the rubrics' weights make no whole
    queries: list[QueryRead] = []  # the student's queries on it and their outcomes, as the page shows them


@router.get(
    "/courseworks/{cw}/submissions/by-reference",
    response_model=list[ReferencedSubmission],
    responses=ERRORS,
)
def by_reference(
    session: SessionDep,
    coursework: CourseworkDep,
    owner: CourseSystem,
    cate_submission_id: Annotated[str | None, Query(max_length=256)] = None,
    labts_commit: Annotated[str | None, Query(max_length=128)] = None,
    labts_repository: Annotated[str | None, Query(max_length=1000)] = None,
) -> list[ReferencedSubmission]:
    """The coursework's submissions carrying a course system's reference: CATe's submission id, or a
    LabTS commit (with its repository, to be exact). Oldest first; an empty list when none does."""
    try:
        ref = _lookup_reference(cate_submission_id, labts_repository, labts_commit)
        found = find_by_reference(session=session, coursework_id=coursework.row.id, ref=ref)
    except ReferenceInvalid as exc:
        raise HTTPException(400, str(exc)) from None
    out = []
    for sub in found:
        student = session.get_one(Student, sub.student_id)  # a foreign key: the row is there
        graded = latest_graded_run(session=session, submission_id=sub.id, kind=RunKind.full) is not None
        out.append(
            ReferencedSubmission(
                id=sub.id,
                coursework=coursework.row.code,
                student_external_id=student.external_id,
                received_at=sub.received_at,
                late_minutes=sub.late_minutes,
                sha256=sub.sha256,
                **reference_of(sub).as_dict(),
                ignored_files=list(sub.ignored_files or []),
                graded=graded,
            )
        )
    return out


def _lookup_reference(cate: str | None, repository: str | None, commit: str | None) -> ExternalRef:
    """A lookup may name a commit without its repository (a SHA is unique enough in a cohort)."""
    parsed = parse_reference(cate_submission_id=cate)
    commit = (commit or "").strip().lower() or None
    repository = (repository or "").strip() or None
    if commit is not None and not COMMIT.match(commit):
        raise ReferenceInvalid("the commit SHA must be 40 (SHA-1) or 64 (SHA-256) hexadecimal characters.")
    if repository is not None:
        check_repository(repository)
    if repository is not None and commit is None:
        raise ReferenceInvalid("name the commit (labts_commit) with the repository.")
    return ExternalRef(parsed.cate_submission_id, repository, commit)


@router.get("/courseworks/{cw}/feedback/{external_id}", response_model=FeedbackRead, responses=ERRORS)
def feedback(
    request: Request, session: SessionDep, coursework: CourseworkDep, owner: CourseSystem, external_id: str
) -> FeedbackRead:
    """One student's full feedback sheet, once the marks are released to them: the same content as
    their feedback page (items by part and section, scores, released messages and comments,
    penalties, lateness, the total, and the "Coursework mark" weighting beneath it). Before release: 404,
    whatever the token's view."""
    student = student_by_external_id(session=session, external_id=external_id)
    if student is None:
        raise HTTPException(404, f"no student with external id {external_id!r} is on the roster.")
    try:
        sheet, marks = student_feedback(
            session=session, rubric=coursework.files.rubric, coursework=coursework.row, student_id=student.id
        )
    except NoFeedback as exc:
        raise HTTPException(404, str(exc)) from None
    if marks.submission is None:  # a total exists only for a submission; never reached
        raise HTTPException(404, "no submission was marked for this coursework.")
    return FeedbackRead(
        coursework=coursework.row.code,
        student_external_id=student.external_id,
        submission_id=marks.submission.id,
        sheet=sheet,
        weighting=None
        if coursework.files.rubric.unassessed
        else _weighting_read(
            student_weighting(session=session, courseworks=served_courseworks(request, session), student_id=student.id)
        ),
        queries=[
            QueryRead(**dataclasses.asdict(q))
            for q in outcomes(
                session=session, rubric=coursework.files.rubric, coursework=coursework.row, student_id=student.id
            )
        ],
    )


def _weighting_read(weighting: Weighting | None) -> WeightingRead | None:
    if weighting is None:
        return None
    return WeightingRead(
        mark=weighting.mark.mark,
        so_far=weighting.so_far,
        courseworks=[
            WeightingLine(
                coursework=share.coursework,
                title=weighting.titles[share.coursework],
                weight=share.weight,
                released=share.coursework in weighting.released,
                score=share.score,
                max_score=share.max_score,
                contribution=share.contribution,
            )
            for share in weighting.mark.shares
        ],
    )
