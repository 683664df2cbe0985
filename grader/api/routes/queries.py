"""Queries after release (``grader.marking.queries``): a student raises one on an item of their
released mark and reads the outcome; the item's marker (or a lecturer) lists and answers them,
changing the mark through its history; a lecturer sets the coursework's query window."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from sqlalchemy.orm import Session

from grader.api.responses import ERRORS, error
from grader.api.schemas.queries import (
    MyQueriesRead,
    QueryAnswer,
    QueryRead,
    QueryWindowRead,
    QueryWindowWrite,
    QueryWrite,
    StaffQueriesRead,
    StaffQueryRead,
)
from grader.courseworks.models import Coursework
from grader.courseworks.service import is_released
from grader.http.deps import (
    CourseworkDep,
    CourseworkRef,
    CurrentLecturer,
    ReadingStudent,
    Require,
    SessionDep,
    SubmittingStudent,
)
from grader.marking import desk, queries
from grader.marking.query_models import QueryStatus
from grader.marking.query_views import outcomes, staff_view
from grader.users.models import Role
from grader.users.service import TokenOwner

router = APIRouter(tags=["queries"])
QueryReader = Annotated[TokenOwner, Depends(Require(Role.gta, Role.lecturer, scope="read"))]
QueryId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the query's id")]
QueryAnswerer = Annotated[TokenOwner, Depends(Require(Role.gta, Role.lecturer, scope="mark"))]
REFUSALS = {
    **ERRORS,
    403: error("your role or token may not do this, or the query window is closed"),
    404: error("no such coursework, item or query, or the marks are not released to you"),
    409: error("an open query on that item already, or the query was already answered"),
}


def _refused(exc: queries.QueryError | desk.DeskError) -> HTTPException:
    if isinstance(exc, desk.MarkChanged):
        return HTTPException(409, "the mark changed while you answered: nothing was saved; read it again.")
    status = exc.status if isinstance(exc, queries.QueryError) else 422
    return HTTPException(status, str(exc))


def _mine(session: Session, coursework: CourseworkRef, student_id: int) -> MyQueriesRead:
    window = queries.window_for(session=session, coursework=coursework.row, student_id=student_id)
    rows = outcomes(session=session, rubric=coursework.files.rubric, coursework=coursework.row, student_id=student_id)
    return MyQueriesRead(
        coursework=coursework.row.code,
        window_open=window.open,
        window_closes_at=window.closes_at,
        window=window.says,
        queries=[QueryRead(**dataclasses.asdict(q)) for q in rows],
    )


@router.post("/courseworks/{cw}/queries", response_model=QueryRead, status_code=201, responses=REFUSALS)
def raise_query(
    request: Request, session: SessionDep, coursework: CourseworkDep, acting: SubmittingStudent, body: QueryWrite
) -> QueryRead:
    """Query one item of your released mark, within the coursework's query window. It goes to the
    marker of your work, or to a lecturer; the answer shows on your feedback sheet."""
    try:
        row = queries.raise_query(
            session=session,
            rubric=coursework.files.rubric,
            coursework=coursework.row,
            student_id=acting.student.id,
            item_id=body.item_id,
            message=body.message,
            by_user_id=acting.owner.user.id,
        )
    except queries.QueryError as exc:
        raise _refused(exc) from None
    mine = outcomes(
        session=session, rubric=coursework.files.rubric, coursework=coursework.row, student_id=acting.student.id
    )
    return QueryRead(**dataclasses.asdict(next(q for q in mine if q.id == row.id)))


@router.get("/courseworks/{cw}/queries/mine", response_model=MyQueriesRead, responses=REFUSALS)
def my_queries(
    request: Request, session: SessionDep, coursework: CourseworkDep, acting: ReadingStudent
) -> MyQueriesRead:
    """Your queries on this coursework with their outcomes, and whether you may raise one now.
    Before your marks are released there is nothing here (404)."""
    if not is_released(session=session, coursework=coursework.row, student_id=acting.student.id):
        raise HTTPException(404, "the marks for this coursework are not released yet.")
    return _mine(session, coursework, acting.student.id)


@router.get("/courseworks/{cw}/queries", response_model=StaffQueriesRead, responses=REFUSALS)
def list_queries(
    session: SessionDep,
    coursework: CourseworkDep,
    owner: QueryReader,
    status: Annotated[Literal["open", "answered", "all"], Query(description="which queries")] = "open",
) -> StaffQueriesRead:
    """The queries you answer: a lecturer every one, a GTA those of the students they mark
    (pseudonyms under anonymous marking). Open ones by default."""
    try:
        days, rows = staff_view(
            session=session,
            rubric=coursework.files.rubric,
            coursework=coursework.row,
            reader=owner.user,
            status=None if status == "all" else QueryStatus(status),
        )
    except desk.DeskError as exc:
        raise HTTPException(403, str(exc)) from None
    return StaffQueriesRead(
        coursework=coursework.row.code,
        window_days=days,
        queries=[StaffQueryRead(**dataclasses.asdict(q)) for q in rows],
    )


@router.post("/queries/{query_id}/answer", response_model=StaffQueryRead, responses=REFUSALS)
def answer_query(
    request: Request,
    session: SessionDep,
    owner: QueryAnswerer,
    query_id: QueryId,
    body: QueryAnswer,
) -> StaffQueryRead:
    """Answer a query; with ``score`` the item's mark changes too (kept in the mark's history, and
    told to course systems as a change after release)."""
    try:
        row = queries.answer_query(
            session=session,
            courseworks=request.app.state.courseworks,
            query_id=query_id,
            marker=owner.user,
            answer=body.answer,
            score=body.score,
            public_url=request.app.state.settings.public_url,
        )
    except (queries.QueryError, desk.DeskError) as exc:
        raise _refused(exc) from None
    cw = session.get_one(Coursework, row.coursework_id)
    _, rows = staff_view(
        session=session,
        rubric=request.app.state.courseworks[cw.code].rubric,
        coursework=cw,
        reader=owner.user,
        status=None,
    )
    return StaffQueryRead(**dataclasses.asdict(next(q for q in rows if q.id == query_id)))


@router.put("/courseworks/{cw}/query-window", response_model=QueryWindowRead, responses=REFUSALS)
def set_query_window(
    session: SessionDep, coursework: CourseworkDep, owner: CurrentLecturer, body: QueryWindowWrite
) -> QueryWindowRead:
    """Take queries for ``days`` days after the marks' release (null: no queries)."""
    try:
        queries.set_window(session=session, coursework=coursework.row, days=body.days, by_user_id=owner.user.id)
    except queries.QueryError as exc:
        raise _refused(exc) from None
    return QueryWindowRead(coursework=coursework.row.code, days=body.days)
