"""The lecturer's roster page: every student (withdrawn ones too), a form to withdraw one, a
button to reinstate one withdrawn by mistake, and a form to erase the data of one withdrawn (or
past retention). The rules are ``grader.roster.withdrawal``'s and ``grader.erasure.service``'s,
the same the API's roster routes use."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from grader.db.clock import db_now
from grader.erasure import retention
from grader.erasure.service import ErasurePlan, ErasureRefused, UnknownStudent, erase_student
from grader.http.deps import BlobStoreDep, SessionDep, SettingsDep
from grader.roster import withdrawal
from grader.roster.service import all_students, student_by_external_id
from grader.settings import Settings
from grader.web.deps import WebError, WebLecturer, WebUser
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
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: WebLecturer,
    done: str | None = None,
    student: str | None = None,
) -> Response:
    notice = ""
    if done in NOTICES and student and student_by_external_id(session=session, external_id=student[:64]):
        notice = NOTICES[done].format(id=student[:64])
    return _page(request, session, settings, user, notice=notice)


def _page(
    request: Request,
    session: Session,
    settings: Settings,
    user: WebUser,
    *,
    notice: str = "",
    status: int = 200,
    erase_error: tuple[str, str] | None = None,  # (external id, the problem) shown at that student's form
    erase_reason: str = "",
) -> Response:
    students = all_students(session=session)
    policy = retention.policy(settings.retention_days, settings.module_end)
    end, now = retention.module_end(session, policy), db_now(session)
    erasable = {
        s.external_id
        for s in students
        if s.withdrawn_at is not None or ((at := retention.expires_at(s, end, policy)) is not None and at <= now)
    }
    return render(
        request,
        "lecturer/roster.html",
        {
            "students": students,
            "withdrawn": sum(1 for s in students if s.withdrawn_at is not None),
            "notice": notice,
            "erasable": erasable,
            "erase_error": erase_error,
            "erase_reason": erase_reason,
        },
        status=status,
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


@router.post("/roster/{external_id}/erase")
def erase(
    request: Request,
    external_id: str,
    session: SessionDep,
    settings: SettingsDep,
    blobs: BlobStoreDep,
    user: WebLecturer,
    reason: Text = "",
    confirm: Short = "",
) -> Response:
    """The roster page's erasure form: what ``POST /api/v1/roster/{external_id}/erasure`` does.
    A refusal shows the page again with the problem at the student's form; nothing is erased."""

    def refused(status: int, problem: str) -> Response:
        return _page(
            request, session, settings, user, status=status, erase_error=(external_id, problem), erase_reason=reason
        )

    if confirm.strip() != external_id:
        return refused(422, f"Type the student's id, {external_id}, in the confirmation field to erase their data.")
    if not reason.strip():
        return refused(422, "Say why the data is erased: the reason goes to the audit log.")
    try:
        plan = erase_student(
            session=session,
            store=blobs,
            external_id=external_id,
            reason=reason,
            actor_id=user.id,
            policy=retention.policy(settings.retention_days, settings.module_end),
            now=db_now(session),
        )
    except UnknownStudent as exc:
        session.rollback()
        return refused(404, f"{str(exc).capitalize()}: nothing was erased.")
    except ErasureRefused as exc:
        session.rollback()
        return refused(409, f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
    return _page(request, session, settings, user, notice=_erased(plan))


def _erased(plan: ErasurePlan) -> str:
    rows = sum(plan.rows.values())
    return (
        f"{plan.external_id}'s data is erased ({plan.grounds}): {rows} rows and {len(plan.blobs_removed)} stored "
        f"files deleted, {plan.blobs_kept} stored files kept (another row still uses them). The audit log records it."
    )
