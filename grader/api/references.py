"""The course system's reference on an upload, from request headers (``X-CATe-Submission-Id``, or
``X-LabTS-Repository`` with ``X-LabTS-Commit``): checked before the body is read, refused from
anyone but a service token, since a student must not be able to claim a course system's record."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, HTTPException

from grader.http.deps import SubmittingStudent
from grader.submissions.references import ExternalRef, ReferenceInvalid, parse_reference


def upload_reference(
    acting: SubmittingStudent,
    x_cate_submission_id: Annotated[
        str | None, Header(max_length=256, description="service tokens: CATe's own submission id")
    ] = None,
    x_labts_repository: Annotated[
        str | None, Header(max_length=1000, description="service tokens: the LabTS repository's https URL")
    ] = None,
    x_labts_commit: Annotated[
        str | None, Header(max_length=128, description="service tokens: the commit SHA (40 or 64 hex digits)")
    ] = None,
) -> ExternalRef:
    """The reference to store with the submission (empty when none was sent), or 400/403."""
    sent = any(v is not None for v in (x_cate_submission_id, x_labts_repository, x_labts_commit))
    if not sent:
        return ExternalRef()
    if not acting.by_service:
        raise HTTPException(403, "only a course system's service token may send a CATe or LabTS reference.")
    try:
        return parse_reference(x_cate_submission_id, x_labts_repository, x_labts_commit)
    except ReferenceInvalid as exc:
        raise HTTPException(400, str(exc)) from None
