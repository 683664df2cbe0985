"""The roster: enrolled students imported from the course system."""

from __future__ import annotations

from fastapi import APIRouter

from grader.api.responses import ERRORS
from grader.api.schemas.roster import RosterImport, RosterImportResult
from grader.http.deps import CurrentRosterManager, SessionDep
from grader.roster.service import RosterEntry, import_students

router = APIRouter(tags=["roster"])


@router.post("/roster", response_model=RosterImportResult, responses=ERRORS)
def import_roster(body: RosterImport, session: SessionDep, owner: CurrentRosterManager) -> RosterImportResult:
    """Add students (by external id) or update their name and email. Nobody is removed."""
    result = import_students(
        session=session,
        actor_id=owner.user.id,
        entries=[RosterEntry(s.external_id, s.name, s.email) for s in body.students],
    )
    return RosterImportResult(created=result.created, updated=result.updated, unchanged=result.unchanged)
