"""The lecturer's regrade preview page: regrade a coursework on the suite on disk now, staged; read
each student whose mark would change (old, new, the difference, the items that move) and whose runs
have not finished or failed; then apply (the new marks become current, the old runs kept) or discard.
The same domain functions as the API (``grader.submissions.regrade_preview``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from grader.http.deps import SessionDep, SettingsDep
from grader.submissions import regrade_preview as rp
from grader.web.deps import WebError, WebLecturer
from grader.web.lookups import coursework
from grader.web.templating import render

router = APIRouter(prefix="/lecturer")
PreviewId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _page(cw: str, preview_id: int | None = None) -> str:
    return f"/lecturer/courseworks/{cw}/regrade-preview" + (f"?preview={preview_id}" if preview_id else "")


def _answered(exc: rp.PreviewError) -> WebError:
    return WebError(404 if isinstance(exc, rp.PreviewNotFound) else 409, str(exc))


@router.get("/courseworks/{cw}/regrade-preview")
def preview_page(
    request: Request,
    cw: str,
    session: SessionDep,
    user: WebLecturer,
    preview: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """The latest preview (or the one asked for), its report, and the coursework's earlier previews."""
    ref = coursework(request, session, cw)
    previews = rp.list_previews(session=session, coursework=ref.row)
    chosen = next((p for p in previews if p.id == preview), None) if preview is not None else None
    if preview is not None and chosen is None:
        raise WebError(404, f"{ref.row.code} has no regrade preview {preview}.")
    chosen = chosen or (previews[0] if previews else None)
    current = rp.suite_digests(ref.files)
    report = (
        rp.preview_report(session=session, preview=chosen, rubric=ref.files.rubric, current=current) if chosen else None
    )
    return render(
        request,
        "lecturer/regrade_preview.html",
        {"cw": ref.row, "report": report, "previews": previews, "current": current},
        user=user,
    )


@router.post("/courseworks/{cw}/regrade-preview")
def start(request: Request, cw: str, session: SessionDep, user: WebLecturer) -> Response:
    ref = coursework(request, session, cw)
    try:
        preview = rp.start_preview(
            session=session,
            coursework=ref.row,
            rubric=ref.files.rubric,
            digests=rp.suite_digests(ref.files),
            lecturer_id=user.id,
            queue=ref.files.rubric.resources.queue,
            run_queue=request.app.state.run_queue,
        )
    except rp.PreviewError as exc:
        raise _answered(exc) from None
    return RedirectResponse(_page(cw, preview.id), status_code=303)


@router.post("/courseworks/{cw}/regrade-preview/{preview_id}/apply")
def apply(
    request: Request,
    cw: str,
    preview_id: PreviewId,
    session: SessionDep,
    settings: SettingsDep,
    user: WebLecturer,
    changed: Annotated[int, Form(ge=0)],
) -> Response:
    """``changed``: how many students' marks change in the report the lecturer confirmed."""
    ref = coursework(request, session, cw)
    try:
        preview = rp.get_preview(session=session, coursework=ref.row, preview_id=preview_id)
        current = rp.suite_digests(ref.files)
        seen = rp.preview_report(session=session, preview=preview, rubric=ref.files.rubric, current=current)
        if len(seen.changed) != changed:
            raise rp.PreviewConflict(
                f"the preview now changes {len(seen.changed)} students' marks, not {changed}: read it again."
            )
        rp.apply_preview(
            session=session,
            preview=preview,
            rubric=ref.files.rubric,
            current=current,
            lecturer_id=user.id,
            public_url=settings.public_url,
        )
    except rp.PreviewError as exc:
        raise _answered(exc) from None
    return RedirectResponse(_page(cw, preview_id), status_code=303)


@router.post("/courseworks/{cw}/regrade-preview/{preview_id}/discard")
def discard(request: Request, cw: str, preview_id: PreviewId, session: SessionDep, user: WebLecturer) -> Response:
    ref = coursework(request, session, cw)
    try:
        preview = rp.get_preview(session=session, coursework=ref.row, preview_id=preview_id)
        rp.discard_preview(session=session, preview=preview, lecturer_id=user.id)
    except rp.PreviewError as exc:
        raise _answered(exc) from None
    return RedirectResponse(_page(cw, preview_id), status_code=303)
