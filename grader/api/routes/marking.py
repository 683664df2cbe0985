"""The marker's desk over JSON: one submission's marking view, marks and overrides with their
history, penalty decisions, the lecturer's counting pick, and duplicate flags.

The views and writes are ``grader.marking.desk``'s (the dashboard calls the same functions); these
routes add the token's scope check and turn the desk's refusals into HTTP answers: not there 404,
a score out of range 422, a stale version 409 with the current value.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from grader.api.responses import ERRORS, error
from grader.api.routes.artifacts import artifact_url
from grader.http.deps import CourseworkDep, Require, SessionDep
from grader.http.desk_errors import desk_status
from grader.http.marking_bodies import CountingWrite, MarkWrite, PenaltyWrite
from grader.marking import desk
from grader.marking.desk_models import (
    CountingRead,
    CourseworkDuplicatesRead,
    MarkChangeRead,
    MarkConflict,
    MarkingRead,
    MarkSaved,
    PenaltyConflict,
    PenaltySaved,
)
from grader.users.service import TokenOwner

router = APIRouter(tags=["marking"])

MarkingReader = Annotated[TokenOwner, Depends(Require(*desk.READERS, scope="read"))]
Marker = Annotated[TokenOwner, Depends(Require(*desk.MARKERS, scope="mark"))]
CountingPicker = Annotated[TokenOwner, Depends(Require(*desk.PICKERS, scope="mark"))]
STALE = "changed since you read it: nothing was written; the body holds the current value"


@contextmanager
def _answered() -> Iterator[None]:
    """The desk's refusals as the API's errors, except the stale-version 409s, whose body each
    writing route answers with the current value."""
    try:
        yield
    except (desk.MarkChanged, desk.PenaltyChanged):
        raise
    except desk.DeskError as exc:
        raise HTTPException(desk_status(exc), str(exc)) from None


@router.get("/submissions/{submission_id}/marking", response_model=MarkingRead, responses=ERRORS)
def marking_view(request: Request, submission_id: uuid.UUID, session: SessionDep, owner: MarkingReader) -> MarkingRead:
    """Everything a marker needs for one submission: its run, every item (hidden ones too) with
    the run's score and message and the mark in force, the penalties and their decisions, the
    total, and identical-file flags."""
    with _answered():
        return desk.marking_view(
            session=session,
            courseworks=request.app.state.courseworks,
            submission_id=submission_id,
            reader=owner.user,
            artifact_url=artifact_url,
        )


@router.put(
    "/submissions/{submission_id}/marks/{item_id}",
    response_model=MarkSaved,
    responses={
        **ERRORS,
        409: {"model": MarkConflict, "description": STALE},
        422: error("a score outside 0..the item's points, or a wrong type"),
    },
)
def put_mark(
    request: Request, submission_id: uuid.UUID, item_id: str, body: MarkWrite, session: SessionDep, owner: Marker
) -> MarkSaved | JSONResponse:
    """Mark a manual or suggested item, or override an auto item (``score: null`` clears it).
    Name the version you read (null for a first mark): a stale one gets 409 and the current mark."""
    try:
        with _answered():
            return desk.save_mark(
                session=session,
                courseworks=request.app.state.courseworks,
                submission_id=submission_id,
                item_id=item_id,
                marker=owner.user,
                score=body.score,
                comment=body.comment,
                expected_version=body.expected_version,
                public_url=request.app.state.settings.public_url,
            )
    except desk.MarkChanged as exc:
        return JSONResponse(exc.conflict.model_dump(mode="json"), status_code=409)


@router.get(
    "/submissions/{submission_id}/marks/{item_id}/history", response_model=list[MarkChangeRead], responses=ERRORS
)
def get_mark_history(
    request: Request, submission_id: uuid.UUID, item_id: str, session: SessionDep, owner: MarkingReader
) -> list[MarkChangeRead]:
    """Every change to the mark in force for this item, oldest first (empty: never marked)."""
    with _answered():
        return desk.mark_changes(
            session=session,
            courseworks=request.app.state.courseworks,
            submission_id=submission_id,
            item_id=item_id,
            reader=owner.user,
        )


@router.put(
    "/submissions/{submission_id}/penalties/{penalty_id}",
    response_model=PenaltySaved,
    responses={**ERRORS, 409: {"model": PenaltyConflict, "description": STALE}},
)
def put_penalty(
    request: Request, submission_id: uuid.UUID, penalty_id: str, body: PenaltyWrite, session: SessionDep, owner: Marker
) -> PenaltySaved | JSONResponse:
    """Apply a penalty, or lift one (the run's included). Name the penalty's version you read
    (null: no decision yet); a stale one gets 409 and the penalty as it stands."""
    try:
        with _answered():
            return desk.save_penalty(
                session=session,
                courseworks=request.app.state.courseworks,
                submission_id=submission_id,
                penalty_id=penalty_id,
                marker=owner.user,
                applied=body.applied,
                comment=body.comment,
                expected_version=body.expected_version,
                public_url=request.app.state.settings.public_url,
            )
    except desk.PenaltyChanged as exc:
        return JSONResponse(exc.conflict.model_dump(mode="json"), status_code=409)


@router.post("/submissions/{submission_id}/counting", response_model=CountingRead, responses=ERRORS)
def choose_counting(
    request: Request, submission_id: uuid.UUID, body: CountingWrite, session: SessionDep, owner: CountingPicker
) -> CountingRead:
    """This submission counts for its student's coursework mark, whatever the rubric's rule says."""
    with _answered():
        return desk.choose_counting(
            session=session,
            courseworks=request.app.state.courseworks,
            submission_id=submission_id,
            lecturer=owner.user,
            reason=body.reason,
        )


@router.delete("/submissions/{submission_id}/counting", response_model=CountingRead, responses=ERRORS)
def clear_counting(
    request: Request, submission_id: uuid.UUID, session: SessionDep, owner: CountingPicker
) -> CountingRead:
    """Drop the lecturer's pick for this submission's student: the rubric's rule decides again."""
    with _answered():
        return desk.clear_counting(
            session=session, courseworks=request.app.state.courseworks, submission_id=submission_id, lecturer=owner.user
        )


@router.get("/courseworks/{cw}/duplicates", response_model=CourseworkDuplicatesRead, responses=ERRORS)
def list_duplicates(session: SessionDep, coursework: CourseworkDep, owner: MarkingReader) -> CourseworkDuplicatesRead:
    """Every identical-file flag of the coursework, grouped by the file's sha256: who holds it,
    the earliest holder first. For a person to judge: a shared starter file is not a copy."""
    with _answered():
        return desk.duplicates(
            session=session, coursework=coursework.row, rubric=coursework.files.rubric, reader=owner.user
        )
