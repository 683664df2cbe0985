"""The roster: enrolled students imported from the course system, listed, withdrawn and reinstated."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from grader.api.responses import ERRORS, error
from grader.api.schemas.roster import (
    ErasureRead,
    ErasureWrite,
    RosterImport,
    RosterImportReply,
    RosterRead,
    RosterStudentRead,
    WithdrawalRead,
    WithdrawalWrite,
)
from grader.db.clock import db_now
from grader.erasure import retention
from grader.erasure.service import ErasureRefused, UnknownStudent, erase_student
from grader.http.deps import BlobStoreDep, CurrentLecturer, CurrentRosterManager, SessionDep, SettingsDep
from grader.roster import withdrawal
from grader.roster.models import Student
from grader.roster.service import RosterEntry, all_students, import_students

router = APIRouter(tags=["roster"])
ExternalId = Annotated[str, Path(description="the student's external id", max_length=64)]


@router.post("/roster", response_model=RosterImportReply, response_model_exclude_none=True, responses=ERRORS)
def import_roster(body: RosterImport, session: SessionDep, owner: CurrentRosterManager) -> RosterImportReply:
    """Add students (by external id) or update their name and email. Nobody is removed, and nobody
    withdrawn is reinstated: those in the import are named in ``still_withdrawn``."""
    result = import_students(
        session=session,
        actor_id=owner.user.id,
        entries=[RosterEntry(s.external_id, s.name, s.email) for s in body.students],
    )
    return RosterImportReply(
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        still_withdrawn=list(result.still_withdrawn) or None,
    )


@router.get("/roster", response_model=RosterRead, responses=ERRORS)
def list_roster(session: SessionDep, owner: CurrentRosterManager) -> RosterRead:
    """Every student on the roster in roster order, withdrawn students included (``status``
    ``withdrawn``, with ``withdrawn_at``)."""
    return RosterRead(students=[_read(s) for s in all_students(session=session)])


@router.put("/roster/{external_id}/withdrawal", response_model=WithdrawalRead, responses=ERRORS)
def withdraw_student(
    session: SessionDep, owner: CurrentRosterManager, external_id: ExternalId, body: WithdrawalWrite | None = None
) -> WithdrawalRead:
    """Withdraw a student from the module (on ``on``, default now). They leave the enrolled roster
    (overview, coursework marks and exports) and are listed as withdrawn in the registry file.
    Repeating it keeps the first date unless a different ``on`` is given (``changed`` says which)."""
    body = body or WithdrawalWrite()
    try:
        on = withdrawal.withdrawal_instant(body.on, now=db_now(session))
        change = withdrawal.withdraw(
            session=session, external_id=external_id, on=on, reason=body.reason.strip(), actor_id=owner.user.id
        )
    except withdrawal.UnknownStudent as exc:
        raise HTTPException(404, f"{exc}.") from None
    except withdrawal.BadWithdrawalDate as exc:
        raise HTTPException(422, f"the request is not valid: on: {exc}.") from None
    return WithdrawalRead(**_read(change.student).model_dump(), changed=change.changed)


@router.delete("/roster/{external_id}/withdrawal", response_model=WithdrawalRead, responses=ERRORS)
def reinstate_student(session: SessionDep, owner: CurrentRosterManager, external_id: ExternalId) -> WithdrawalRead:
    """Reinstate a student withdrawn by mistake: back on the enrolled roster, with their submissions
    and marks. A student who is not withdrawn is left as they are (``changed`` false)."""
    try:
        change = withdrawal.reinstate(session=session, external_id=external_id, actor_id=owner.user.id)
    except withdrawal.UnknownStudent as exc:
        raise HTTPException(404, f"{exc}.") from None
    return WithdrawalRead(**_read(change.student).model_dump(), changed=change.changed)


@router.post(
    "/roster/{external_id}/erasure",
    response_model=ErasureRead,
    responses={**ERRORS, 409: error("the student is enrolled and within the retention period: withdraw them first")},
)
def erase(
    session: SessionDep,
    settings: SettingsDep,
    blobs: BlobStoreDep,
    owner: CurrentLecturer,
    external_id: ExternalId,
    body: ErasureWrite,
) -> ErasureRead:
    """Erase a student's data: submissions, runs, artifacts, marks and their history, extensions,
    tokens and account (docs/backup.md). Only once they are withdrawn (an erasure on request) or
    their retention period has run out. Stored files another row still uses are kept. Audited,
    without the student's name or ids. ``confirm`` must repeat the external id."""
    if body.confirm != external_id:
        raise HTTPException(422, "the request is not valid: confirm: it must repeat the student's external id.")
    if not body.reason.strip():
        raise HTTPException(422, "the request is not valid: reason: say why the data is erased.")
    try:
        plan = erase_student(
            session=session,
            store=blobs,
            external_id=external_id,
            reason=body.reason,
            actor_id=owner.user.id,
            policy=retention.policy(settings.retention_days, settings.module_end),
            now=db_now(session),
        )
    except UnknownStudent as exc:
        raise HTTPException(404, f"{exc}.") from None
    except ErasureRefused as exc:
        raise HTTPException(409, f"{exc}.") from None
    return ErasureRead(
        external_id=external_id,
        grounds=plan.grounds,
        rows=plan.rows,
        blobs_removed=len(plan.blobs_removed),
        blobs_kept=plan.blobs_kept,
        audit_event_id=plan.audit_event_id,
    )


def _read(s: Student) -> RosterStudentRead:
    return RosterStudentRead(
        external_id=s.external_id,
        name=s.name,
        email=s.email,
        enrolled_at=s.enrolled_at,
        withdrawn_at=s.withdrawn_at,
        status="withdrawn" if s.withdrawn_at is not None else "enrolled",
    )
