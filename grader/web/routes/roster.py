"""The lecturer's roster page: every student (withdrawn ones too), a form to withdraw one, and a
button to reinstate one withdrawn by mistake. The rules are ``grader.roster.withdrawal``'s."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from grader.db.clock import db_now
from grader.http.deps import SessionDep
from grader.roster import withdrawal
from grader.roster.service import all_students, student_by_external_id
from grader.web.deps import WebError, WebLecturer
from grader.web.templating import render

router = APIRouter(prefix="/lecturer")
Text = Annotated[str, Form(max_length=2000)]
Short = Annotated[str, Form(max_length=64)]
# What the page says after a change; fixed sentences (a link cannot make it say anything else).
NOTICES = {
    "withdrawn": "{id} is withdrawn.",
    "corrected": "{id}'s withdrawal date is corrected.",
    "kept": "{id} was already withdrawn; the first date is kept (give a different date to correct it).",
    "reinstated": "{id} is reinstated: back on the enrolled roster.",
    "enrolled": "{id} was not withdrawn; nothing changed.",
}


@router.get("/roster")
def roster_page(
    request: Request, session: SessionDep, user: WebLecturer, done: str | None = None, student: str | None = None
) -> Response:
    notice = ""
    if done in NOTICES and student and student_by_external_id(session=session, external_id=student[:64]):
        notice = NOTICES[done].format(id=student[:64])
    students = all_students(session=session)
    return render(
        request,
        "lecturer/roster.html",
        {
            "students": students,
            "withdrawn": sum(1 for s in students if s.withdrawn_at is not None),
            "notice": notice,
        },
        user=user,
    )


def _back(done: str, external_id: str) -> Response:
    return RedirectResponse("/lecturer/roster?" + urlencode({"done": done, "student": external_id}), status_code=303)


@router.post("/roster/withdraw")
def withdraw(
    request: Request, session: SessionDep, user: WebLecturer, external_id: Short, on: Short = "", reason: Text = ""
) -> Response:
    external_id = external_id.strip()
    try:
        when = withdrawal.withdrawal_instant(on, now=db_now(session))
        change = withdrawal.withdraw(
            session=session, external_id=external_id, on=when, reason=reason.strip(), actor_id=user.id
        )
    except withdrawal.UnknownStudent as exc:
        raise WebError(404, f"{exc}.") from None
    except withdrawal.BadWithdrawalDate as exc:
        raise WebError(422, f"{exc}.") from None
    done = "kept" if not change.changed else "corrected" if change.previous is not None else "withdrawn"
    return _back(done, external_id)


@router.post("/roster/{external_id}/reinstate")
def reinstate(request: Request, external_id: str, session: SessionDep, user: WebLecturer) -> Response:
    try:
        change = withdrawal.reinstate(session=session, external_id=external_id, actor_id=user.id)
    except withdrawal.UnknownStudent as exc:
        raise WebError(404, f"{exc}.") from None
    return _back("reinstated" if change.changed else "enrolled", external_id)
