"""The API upload route's body, read only after the caller is known and the attempt is counted.

FastAPI reads and parses a route's ``File()`` and ``Form()`` parameters before it runs any of the
route's dependencies, so an upload declared that way is received in full (up to the body limit)
before its token is even looked at. The upload route therefore declares no body parameter:
``uploaded_file`` parses the multipart body itself, as a dependency that needs the caller
(``SubmittingStudent``) and the counted attempt (``admitted_attempt``) first. An anonymous,
forbidden or throttled upload is answered before a byte of its body is read; an admitted one
streams into a temp file (Starlette's multipart parser), never into memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from starlette.datastructures import UploadFile

from grader.http.deps import CourseworkDep, SessionDep, SettingsDep, SubmittingStudent
from grader.submissions.flows import admit_upload, hourly_limit_of
from grader.submissions.quota import RateLimited

FILE_FIELD = "file"
# The request body, for the OpenAPI document (the route no longer declares it as a parameter).
UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {
                        FILE_FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "the notebook (.ipynb) or a zip with the notebook and model files",
                        }
                    },
                }
            }
        },
    }
}


def admitted_attempt(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    coursework: CourseworkDep,
    acting: SubmittingStudent,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> None:
    """Count this upload against the student's hourly limit for the coursework, or answer 429."""
    try:
        admit_upload(
            session=session,
            student_id=acting.student.id,
            coursework_id=coursework.row.id,
            per_hour=hourly_limit_of(settings, coursework.files.rubric),
            idempotency_key=idempotency_key or None,
        )
    except RateLimited as exc:
        request.app.state.metrics.rejected(coursework.row.code, "rate_limited")
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None


async def uploaded_file(
    request: Request, _admitted: Annotated[None, Depends(admitted_attempt)]
) -> AsyncIterator[UploadFile]:
    """The uploaded file, parsed from the multipart body; its temp file is closed after the route."""
    form = await request.form(max_files=1, max_fields=16)
    try:
        file = form.get(FILE_FIELD)
        if not isinstance(file, UploadFile):
            raise HTTPException(
                422,
                f"the request is not valid: send the file as multipart/form-data in a field "
                f"named '{FILE_FIELD}' (curl -F {FILE_FIELD}=@work.ipynb ...).",
            )
        yield file
    finally:
        await form.close()
