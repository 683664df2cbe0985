"""A lecturer's regrade of a coursework on a fixed hidden suite, as a preview: start it, read who
would change and by how much, apply it (the new marks become current) or discard it.

The runs are staged (``grader.submissions.regrade_preview``): until applied nothing a student, a
marker, an export or a webhook sees changes. Lecturers only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from grader.api.responses import ERRORS, error
from grader.api.schemas.regrade_previews import PreviewApply, PreviewRead, PreviewReportRead
from grader.http.deps import CourseworkDep, Require, SessionDep, SettingsDep
from grader.submissions import regrade_preview as rp
from grader.users.models import Role
from grader.users.service import TokenOwner

router = APIRouter(tags=["regrade previews"])
PreviewReader = Annotated[TokenOwner, Depends(Require(Role.lecturer, scope="read"))]
PreviewWriter = Annotated[TokenOwner, Depends(Require(Role.lecturer, scope="mark"))]
PreviewId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the preview's id")]
CONFLICT = error("another preview is pending, runs are still grading, it was decided already, or the suite changed")


@contextmanager
def _answered() -> Iterator[None]:
    try:
        yield
    except rp.PreviewNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except rp.PreviewError as exc:  # conflict or stale: nothing was written
        raise HTTPException(409, str(exc)) from None


@router.post(
    "/courseworks/{cw}/regrade-previews",
    status_code=201,
    response_model=PreviewRead,
    responses={**ERRORS, 409: CONFLICT},
)
def start(request: Request, session: SessionDep, coursework: CourseworkDep, owner: PreviewWriter) -> PreviewRead:
    """Regrade every counting submission on the hidden suite on disk now, staged: nothing anyone
    else sees changes until the preview is applied. One pending preview per coursework."""
    with _answered():
        preview = rp.start_preview(
            session=session,
            coursework=coursework.row,
            rubric=coursework.files.rubric,
            digests=rp.suite_digests(coursework.files),
            lecturer_id=owner.user.id,
            queue=coursework.files.rubric.resources.queue,
            run_queue=request.app.state.run_queue,
        )
    return PreviewRead.of(preview, coursework.row.code)


@router.get("/courseworks/{cw}/regrade-previews", response_model=list[PreviewRead], responses=ERRORS)
def list_all(session: SessionDep, coursework: CourseworkDep, owner: PreviewReader) -> list[PreviewRead]:
    """The coursework's previews, newest first."""
    return [
        PreviewRead.of(p, coursework.row.code) for p in rp.list_previews(session=session, coursework=coursework.row)
    ]


@router.get("/courseworks/{cw}/regrade-previews/{preview_id}", response_model=PreviewReportRead, responses=ERRORS)
def read(
    session: SessionDep, coursework: CourseworkDep, preview_id: PreviewId, owner: PreviewReader
) -> PreviewReportRead:
    """Each student of the preview: the staged run's state and, once graded, the current total, the
    total it would give, the difference and the items that move; ``changed`` lists those whose mark
    would change. ``stale``: the suite on disk is no longer the preview's (it cannot be applied)."""
    with _answered():
        preview = rp.get_preview(session=session, coursework=coursework.row, preview_id=preview_id)
        report = rp.preview_report(
            session=session, preview=preview, rubric=coursework.files.rubric, current=rp.suite_digests(coursework.files)
        )
    return PreviewReportRead.of_report(report, coursework.row.code)


@router.post(
    "/courseworks/{cw}/regrade-previews/{preview_id}/apply",
    response_model=PreviewReportRead,
    responses={**ERRORS, 409: CONFLICT},
)
def apply(
    session: SessionDep,
    settings: SettingsDep,
    coursework: CourseworkDep,
    preview_id: PreviewId,
    body: PreviewApply,
    owner: PreviewWriter,
) -> PreviewReportRead:
    """Make the preview's marks current (the old runs stay in each submission's history). The body
    confirms how many students' marks change, as read: if that moved since, nothing is applied."""
    with _answered():
        preview = rp.get_preview(session=session, coursework=coursework.row, preview_id=preview_id)
        current = rp.suite_digests(coursework.files)
        seen = rp.preview_report(session=session, preview=preview, rubric=coursework.files.rubric, current=current)
        if len(seen.changed) != body.changed:
            raise rp.PreviewConflict(
                f"the preview now changes {len(seen.changed)} students' marks, not {body.changed}: "
                "read it again before applying."
            )
        report = rp.apply_preview(
            session=session,
            preview=preview,
            rubric=coursework.files.rubric,
            current=current,
            lecturer_id=owner.user.id,
            public_url=settings.public_url,
        )
    applied = rp.get_preview(session=session, coursework=coursework.row, preview_id=preview_id)
    return PreviewReportRead.of_report(
        rp.PreviewReport(applied, report.rows, current, report.counts), coursework.row.code
    )


@router.post(
    "/courseworks/{cw}/regrade-previews/{preview_id}/discard",
    response_model=PreviewRead,
    responses={**ERRORS, 409: CONFLICT},
)
def discard(session: SessionDep, coursework: CourseworkDep, preview_id: PreviewId, owner: PreviewWriter) -> PreviewRead:
    """Drop a pending preview: its runs never count (those still waiting are cancelled)."""
    with _answered():
        preview = rp.get_preview(session=session, coursework=coursework.row, preview_id=preview_id)
        rp.discard_preview(session=session, preview=preview, lecturer_id=owner.user.id)
    preview = rp.get_preview(session=session, coursework=coursework.row, preview_id=preview_id)
    return PreviewRead.of(preview, coursework.row.code)
