"""FastAPI dependencies of the API and the dashboard: settings, a database session and the blob
store per request, who is calling (API token), role guards, and the coursework a path names.

Aliases (``SessionDep``, ``CurrentUser``, ``CurrentStaff`` ...) keep route signatures short. A
route's guard names the roles that may call it and the token scope it needs: a token's scopes can
only narrow what its user's role allows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from grader.blobs import BlobStore
from grader.courseworks.models import Coursework
from grader.courseworks.service import coursework_by_code
from grader.roster.models import Student
from grader.roster.service import student_by_external_id, student_for_user
from grader.rubrics.loader import CourseworkFiles
from grader.settings import Settings
from grader.users.models import Role
from grader.users.service import TokenOwner, authenticate


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def get_blob_store(request: Request) -> BlobStore:
    return request.app.state.blobs


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
BlobStoreDep = Annotated[BlobStore, Depends(get_blob_store)]

_bearer = HTTPBearer(auto_error=False, description="an API token: `grader token create USERNAME`")


def current_user(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> TokenOwner:
    if credentials is None:
        raise HTTPException(
            401, "sign in first: send 'Authorization: Bearer <your API token>'.", headers={"WWW-Authenticate": "Bearer"}
        )
    owner = authenticate(session=session, secret=credentials.credentials)
    if owner is None:
        raise HTTPException(
            401, "this API token is not valid (unknown, expired or revoked).", headers={"WWW-Authenticate": "Bearer"}
        )
    return owner


CurrentUser = Annotated[TokenOwner, Depends(current_user)]


class Require:
    """Only these roles, with a token holding this scope."""

    def __init__(self, *roles: Role, scope: str):
        self.roles = roles
        self.scope = scope

    def __call__(self, owner: CurrentUser) -> TokenOwner:
        if owner.user.role not in self.roles:
            raise HTTPException(403, f"your role ({owner.user.role.value}) may not do this.")
        if not owner.allows(self.scope):
            raise HTTPException(403, f"this API token lacks the '{self.scope}' scope.")
        return owner


CurrentReader = Annotated[TokenOwner, Depends(Require(*Role, scope="read"))]
CurrentStaff = Annotated[TokenOwner, Depends(Require(Role.gta, Role.lecturer, Role.service, scope="read"))]
CurrentMarker = Annotated[TokenOwner, Depends(Require(Role.gta, Role.lecturer, scope="mark"))]
CurrentLecturer = Annotated[TokenOwner, Depends(Require(Role.lecturer, scope="release"))]
CurrentRosterManager = Annotated[TokenOwner, Depends(Require(Role.lecturer, Role.service, scope="roster"))]
CurrentExporter = Annotated[TokenOwner, Depends(Require(Role.lecturer, Role.service, scope="export"))]


@dataclass(frozen=True)
class Acting:
    """A student, and who acts for them: themselves, or a service token (a course system)."""

    owner: TokenOwner
    student: Student

    @property
    def by_service(self) -> bool:
        return self.owner.user.role is Role.service


class ActingStudent:
    """The student a request is for: the caller's own roster entry, or, for a service token, the
    student named by ``X-On-Behalf-Of`` (their external id)."""

    def __init__(self, scope: str):
        self.guard = Require(Role.student, Role.service, scope=scope)

    def __call__(
        self,
        session: SessionDep,
        owner: CurrentUser,
        x_on_behalf_of: Annotated[str | None, Header(description="service tokens: the student's external id")] = None,
    ) -> Acting:
        self.guard(owner)
        if owner.user.role is Role.service:
            if not x_on_behalf_of:
                raise HTTPException(400, "a service token must name the student in the X-On-Behalf-Of header.")
            student = student_by_external_id(session=session, external_id=x_on_behalf_of)
            if student is None:
                raise HTTPException(404, f"no student with external id {x_on_behalf_of!r} is on the roster.")
            return Acting(owner, student)
        student = student_for_user(session=session, user_id=owner.user.id)
        if student is None:
            raise HTTPException(403, "your account is not on this course's roster; ask the lecturer.")
        if x_on_behalf_of and x_on_behalf_of != student.external_id:
            raise HTTPException(403, "students may only act for themselves.")
        return Acting(owner, student)


SubmittingStudent = Annotated[Acting, Depends(ActingStudent(scope="submit"))]
ReadingStudent = Annotated[Acting, Depends(ActingStudent(scope="read"))]


@dataclass(frozen=True)
class CourseworkRef:
    row: Coursework
    files: CourseworkFiles


def get_coursework(
    request: Request, session: SessionDep, cw: Annotated[str, Path(description="coursework id, e.g. cw1")]
) -> CourseworkRef:
    files = request.app.state.courseworks.get(cw)
    row = coursework_by_code(session=session, code=cw) if files is not None else None
    if files is None or row is None:
        raise HTTPException(404, f"no coursework {cw!r}.")
    return CourseworkRef(row, files)


CourseworkDep = Annotated[CourseworkRef, Depends(get_coursework)]


def stated_received_at(
    x_received_at: Annotated[
        dt.datetime | None,
        Header(description="service tokens: when the course system received the file (ISO 8601 with offset)"),
    ] = None,
) -> dt.datetime | None:
    if x_received_at is not None and (x_received_at.tzinfo is None or x_received_at.utcoffset() is None):
        raise HTTPException(400, "X-Received-At needs a time zone offset, e.g. 2026-02-13T18:59:00+00:00.")
    if x_received_at is not None:
        try:  # lateness is measured in UTC: a time that has none (year 1 at +14:00) cannot be judged
            x_received_at.astimezone(dt.UTC)
        except OverflowError:
            raise HTTPException(
                400, "X-Received-At is out of range once in UTC; send the real time, e.g. 2026-02-13T18:59:00+00:00."
            ) from None
    return x_received_at
