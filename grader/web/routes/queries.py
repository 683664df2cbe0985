"""Queries after release on the dashboard: the student raises one from their feedback sheet (whose
page shows the outcomes, ``student.py``); markers list and answer the queries they handle; the
lecturer sets the coursework's query window. The domain is ``grader.marking.queries``."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework
from grader.http.deps import SessionDep
from grader.marking import desk, queries
from grader.marking.query_models import QueryStatus
from grader.marking.query_views import staff_view
from grader.users.models import User
from grader.web.deps import WebError, WebLecturer, WebStaff, WebStudent, WebUser
from grader.web.lookups import coursework
from grader.web.templating import render

router = APIRouter()
Message = Annotated[str, Form(max_length=4000)]
Short = Annotated[str, Form(max_length=64)]


def _user(session: Session, user: WebUser) -> User:
    return session.get_one(User, user.id)


@router.post("/courseworks/{cw}/queries")
def raise_query(
    request: Request, cw: str, session: SessionDep, user: WebStudent, item_id: Short, message: Message
) -> Response:
    ref = coursework(request, session, cw)
    if user.student_id is None:
        raise WebError(403, "your account is not on this course's roster; ask the lecturer.")
    try:
        queries.raise_query(
            session=session,
            rubric=ref.files.rubric,
            coursework=ref.row,
            student_id=user.student_id,
            item_id=item_id,
            message=message,
            by_user_id=user.id,
        )
    except queries.QueryError as exc:
        raise WebError(exc.status, str(exc)) from None
    return RedirectResponse(f"/courseworks/{cw}/feedback#queries", status_code=303)


@router.get("/staff/courseworks/{cw}/queries")
def queries_page(request: Request, cw: str, session: SessionDep, user: WebStaff, status: str = "open") -> Response:
    ref = coursework(request, session, cw)
    wanted = None if status == "all" else QueryStatus.answered if status == "answered" else QueryStatus.open
    days, rows = staff_view(
        session=session, rubric=ref.files.rubric, coursework=ref.row, reader=_user(session, user), status=wanted
    )
    return render(
        request,
        "staff/queries.html",
        {"cw": ref.row, "rows": rows, "days": days, "status": wanted.value if wanted else "all"},
        user=user,
    )


def _score(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        score = float(text)
    except ValueError:
        raise WebError(400, f"a score is a number, not {text[:40]!r}.") from None
    if not math.isfinite(score):
        raise WebError(400, "a score is a finite number.")
    return score


@router.post("/staff/queries/{query_id}/answer")
def answer_query(
    request: Request, query_id: int, session: SessionDep, user: WebStaff, answer: Message, score: Short = ""
) -> Response:
    try:
        row = queries.answer_query(
            session=session,
            courseworks=request.app.state.courseworks,
            query_id=query_id,
            marker=_user(session, user),
            answer=answer,
            score=_score(score),
            public_url=request.app.state.settings.public_url,
        )
    except queries.QueryError as exc:
        raise WebError(exc.status, str(exc)) from None
    except desk.MarkChanged:
        raise WebError(409, "the mark changed while you answered: nothing was saved; read it again.") from None
    except desk.DeskError as exc:
        raise WebError(400, str(exc)) from None
    code = session.get_one(Coursework, row.coursework_id).code
    return RedirectResponse(f"/staff/courseworks/{code}/queries", status_code=303)


@router.post("/lecturer/courseworks/{cw}/query-window")
def set_window(request: Request, cw: str, session: SessionDep, user: WebLecturer, days: Short = "") -> Response:
    ref = coursework(request, session, cw)
    text = days.strip()
    try:
        value = int(text) if text else None
    except ValueError:
        raise WebError(400, f"the window is a whole number of days, not {text[:40]!r}.") from None
    try:
        queries.set_window(session=session, coursework=ref.row, days=value, by_user_id=user.id)
    except queries.QueryError as exc:
        raise WebError(exc.status, str(exc)) from None
    return RedirectResponse(f"/staff/courseworks/{cw}/queries", status_code=303)
