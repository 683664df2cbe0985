"""The markers' pages (GTAs and lecturers): a coursework's overview, one submission's marking page,
its saves, the rendered notebook, the graded notebook to download, and the run's pictures.

The marking page and its saves go through the marker's desk (``grader.marking.desk``), the very
functions behind the JSON marking API, called with the signed-in user, whose role the desk checks:
a stale version gets the same 409 with the other marker's value, every write is audited and
overrides live apart from runs. The rendered notebook (made once, at grading time) is streamed
from the blob store under its own Content-Security-Policy and shown in an ``<iframe sandbox>``
with no permissions at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework
from grader.http.blob_responses import open_blob, stream_blob
from grader.http.deps import BlobStoreDep, SessionDep
from grader.http.desk_errors import desk_status
from grader.http.marking_bodies import MarkWrite, PenaltyWrite
from grader.marking import desk
from grader.marking.desk_models import MarkingRead
from grader.marking.overview import SORT_KEYS, STATUSES, OverviewRow, filter_rows, histogram, sort_rows
from grader.marking.overview_changes import Cursor, changes_since
from grader.notebooks.reading import NotebookUnreadable, notebook_from_stream
from grader.notebooks.render import RENDER_CSP
from grader.runs.models import GradingRun, RunArtifact
from grader.submissions.models import Submission
from grader.users.models import User
from grader.web.deps import WebError, WebStaff, WebUser
from grader.web.lookups import coursework
from grader.web.marker_rows import MarkerRows, marker_rows, staff_rows
from grader.web.templating import TEMPLATES, render

router = APIRouter(prefix="/staff")
BodyT = TypeVar("BodyT", bound=BaseModel)
BLOB_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}


def _user(session: Session, user: WebUser) -> User:
    """The signed-in user's row: the desk decides from its role what they may do."""
    return session.get_one(User, user.id)  # signed_in loaded it in this request


def _artifact_url(submission_id: uuid.UUID, run_id: int, name: str) -> str:
    return f"/staff/runs/{run_id}/artifacts/{name}"


def _refused(exc: desk.DeskError) -> JSONResponse:
    """A desk's refusal answered to the page's fetch (a stale version: the current value)."""
    if isinstance(exc, desk.MarkChanged | desk.PenaltyChanged):
        return JSONResponse(exc.conflict.model_dump(mode="json"), status_code=desk_status(exc))
    return JSONResponse({"detail": str(exc)}, status_code=desk_status(exc))


def _submission_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise WebError(404, "there is no such submission.") from None


# -- the overview ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverviewQuery:
    status: str = ""
    q: str = ""
    unmarked: bool = False
    late: bool = False
    sort: str = "student"
    desc: bool = False
    mine: bool = False  # only the students allocated to the signed-in marker

    def args(self, **change: Any) -> str:
        """The query string of this view with ``change`` applied (for sort links)."""
        from urllib.parse import urlencode

        values = {**self.__dict__, **change}
        return urlencode({k: ("1" if v is True else v) for k, v in values.items() if v not in ("", False)})


def _overview_query(
    status: str, q: str, unmarked: bool, late: bool, sort: str, desc: bool, mine: bool = False
) -> OverviewQuery:
    if status and status not in STATUSES:
        raise WebError(400, f"unknown status {status!r}; one of {', '.join(STATUSES)}.")
    if sort not in SORT_KEYS:
        raise WebError(400, f"unknown sort {sort!r}; one of {', '.join(SORT_KEYS)}.")
    return OverviewQuery(status, q[:200], unmarked, late, sort, desc, mine)


def _rows(request: Request, session: Session, user: WebUser, cw: str, query: OverviewQuery):
    ref = coursework(request, session, cw)
    current = marker_rows(request, session, user, ref, query.mine)
    shown = sort_rows(
        filter_rows(current.rows, status=query.status, search=query.q, unmarked=query.unmarked, late=query.late),
        query.sort,
        query.desc,
    )
    return ref, current, shown


def _cursor_token(current: MarkerRows) -> str:
    """The poll's cursor: whether names were hidden (a page that showed names must not keep them
    once anonymity is on: another view means everything again) and the change log's snapshot."""
    return "" if current.cursor is None else f"{int(current.hides)}-{current.cursor}"


def _since(token: str, current: MarkerRows) -> Cursor | None:
    """A page's cursor; None (send everything) when it is unknown, malformed or for another view."""
    hides, _, snapshot = token.partition("-")
    return Cursor.parse(snapshot) if hides == str(int(current.hides)) else None


@router.get("/courseworks/{cw}")
def overview(
    request: Request,
    cw: str,
    session: SessionDep,
    user: WebStaff,
    status: str = "",
    q: str = "",
    unmarked: bool = False,
    late: bool = False,
    sort: str = "student",
    desc: bool = False,
    mine: bool = False,
) -> Response:
    query = _overview_query(status, q, unmarked, late, sort, desc, mine)
    ref, current, shown = _rows(request, session, user, cw, query)
    rows = current.rows
    rubric = ref.files.rubric
    totals = [r.total for r in rows if r.total is not None]
    item_charts = [
        {
            "item": item,
            "bins": histogram(
                [r.item_scores[item.id] for r in rows if item.id in r.item_scores],
                item.points,
                bins=min(10, max(1, int(item.points)) + 1),
            ),
        }
        for item in rubric.items
    ]
    counts = {s: sum(1 for r in rows if r.status == s) for s in STATUSES}
    return render(
        request,
        "staff/overview.html",
        {
            "cw": ref.row,
            "rubric": rubric,
            "rows": shown,
            "all_count": len(rows),
            "counts": counts,
            "query": query,
            "statuses": STATUSES,
            "sort_keys": SORT_KEYS,
            "total_bins": histogram(totals, rubric.total_points),
            "item_charts": item_charts,
            "to_mark": sum(1 for r in rows if r.needs_marking),
            "anonymous": current.hides,
            "cursor": _cursor_token(current),
            "hand_items": [i for i in rubric.items if i.kind != "auto"],
        },
        user=user,
    )


@router.get("/courseworks/{cw}/rows")
def overview_rows(
    request: Request,
    cw: str,
    session: SessionDep,
    user: WebStaff,
    status: str = "",
    q: str = "",
    unmarked: bool = False,
    late: bool = False,
    sort: str = "student",
    desc: bool = False,
    mine: bool = False,
    since: str = "",
) -> JSONResponse:
    """The table's body for the page's poll. With ``since`` (the cursor of the page's last answer),
    only the rows that changed since, and every shown row's key in order (the page keeps its other
    rows, so a filter or sort still holds); without one, or one too old or unknown, every row."""
    query = _overview_query(status, q, unmarked, late, sort, desc, mine)
    ref, current, shown = _rows(request, session, user, cw, query)
    changed = changes_since(session, ref.row.id, _since(since, current), current.cursor)
    full = changed.everything or not shown  # no row: the body says "no student matches"
    sent = shown if full else [r for r in shown if r.student_id in changed.student_ids]
    html = TEMPLATES.get_template("staff/_overview_rows.html").render(rows=sent, cw=ref.row) if sent or full else ""
    return JSONResponse(
        {
            "html": html,
            "full": full,
            "order": [r.external_id for r in shown],  # a row's key: data-student, as the marker may see it
            "cursor": _cursor_token(current),
            "done": False,
        }
    )


# -- one submission -------------------------------------------------------------------------------


def _desk(request: Request, session: Session, user: WebUser, submission_id: str) -> MarkingRead:
    """The desk's marking view of the submission (404 as a page when it is not there)."""
    try:
        return desk.marking_view(
            session=session,
            courseworks=request.app.state.courseworks,
            submission_id=_submission_id(submission_id),
            reader=_user(session, user),
            artifact_url=_artifact_url,
        )
    except desk.DeskError as exc:
        raise WebError(desk_status(exc), str(exc)) from None


@router.get("/submissions/{submission_id}")
def marking_page(request: Request, submission_id: str, session: SessionDep, user: WebStaff) -> Response:
    view = _desk(request, session, user, submission_id)
    run = session.get(GradingRun, view.run.id) if view.run else None
    parts = {p.id: p for p in view.total.parts}
    ref = coursework(request, session, view.coursework)
    return render(
        request,
        "staff/marking.html",
        {
            "view": view,
            "rubric": ref.files.rubric,
            "parts": parts,
            "cw": ref.row,
            **_who(view),
            "execution": (run.details or {}).get("execution") if run else None,
            "rendered": bool(run and run.rendered_notebook_key),
            "artifacts": [{"name": a.name, "title": a.title, "url": a.url} for a in view.artifacts],
        },
        user=user,
    )


def _who(view: MarkingRead) -> dict:
    """How the page names the student and the holders of identical files: as the marking API named
    them for this marker (pseudonyms for a GTA under anonymous marking)."""
    dupes = [
        {
            "path": d.path,
            "name": d.other_student.name,
            "external_id": d.other_student.external_id or d.other_student.name,  # the page shows a differing id
            "earlier": d.other_is_earlier,
        }
        for d in view.duplicates
    ]
    return {"student_name": view.student.name, "student_ref": view.student.external_id or "", "dupes": dupes}


@router.get("/submissions/{submission_id}/next")
def next_unmarked(request: Request, submission_id: str, session: SessionDep, user: WebStaff) -> Response:
    """The next counting submission (in the overview's order: roster order, or pseudonym order for a
    GTA under anonymous marking; wrapping) with an item still to mark."""
    sub = session.get(Submission, _submission_id(submission_id))
    if sub is None:
        raise WebError(404, "there is no such submission.")
    code = session.get_one(Coursework, sub.coursework_id).code  # a foreign key: the row is there
    ref = coursework(request, session, code)
    rows = staff_rows(request, session, user, ref)
    at = next((n for n, r in enumerate(rows) if r.student_id == sub.student_id), -1)
    ordered: list[OverviewRow] = rows[at + 1 :] + rows[: at + 1]
    target = next((r for r in ordered if r.needs_marking and r.submission_id != sub.id), None)
    if target is None:
        return RedirectResponse(f"/staff/courseworks/{code}?unmarked=1", status_code=303)
    return RedirectResponse(f"/staff/submissions/{target.submission_id}", status_code=303)


async def _json_body(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise WebError(400, "send a JSON object.") from None
    if not isinstance(body, dict):
        raise WebError(400, "send a JSON object.")
    return body


async def _save_at_desk(request: Request, body_type: type[BodyT], save: Callable[[BodyT], BaseModel]) -> Response:
    """The dashboard's saves: a JSON body checked against ``body_type`` (422), the desk's call off
    the event loop, its refusals as the API answers them (409 carries the current state)."""
    try:
        body = body_type.model_validate(await _json_body(request))
    except ValidationError as exc:
        return JSONResponse({"detail": _invalid(exc)}, status_code=422)
    try:
        saved = await run_in_threadpool(save, body)
    except desk.DeskError as exc:
        return _refused(exc)
    return JSONResponse(saved.model_dump(mode="json"))


@router.put("/submissions/{submission_id}/marks/{item_id}")
async def save_mark(
    request: Request, submission_id: str, item_id: str, session: SessionDep, user: WebStaff
) -> Response:
    """A mark and its comment, saved as the marker types (409 when someone saved since)."""
    sub_id = _submission_id(submission_id)

    def save(body: MarkWrite) -> BaseModel:
        return desk.save_mark(
            session=session,
            courseworks=request.app.state.courseworks,
            submission_id=sub_id,
            item_id=item_id,
            marker=_user(session, user),
            score=body.score,
            comment=body.comment,
            expected_version=body.expected_version,
            public_url=request.app.state.settings.public_url,
        )

    return await _save_at_desk(request, MarkWrite, save)


@router.put("/submissions/{submission_id}/penalties/{penalty_id}")
async def save_penalty(
    request: Request, submission_id: str, penalty_id: str, session: SessionDep, user: WebStaff
) -> Response:
    sub_id = _submission_id(submission_id)

    def save(body: PenaltyWrite) -> BaseModel:
        return desk.save_penalty(
            session=session,
            courseworks=request.app.state.courseworks,
            submission_id=sub_id,
            penalty_id=penalty_id,
            marker=_user(session, user),
            applied=body.applied,
            comment=body.comment,
            expected_version=body.expected_version,
            public_url=request.app.state.settings.public_url,
        )

    return await _save_at_desk(request, PenaltyWrite, save)


@router.get("/submissions/{submission_id}/marks/{item_id}/history")
def mark_history(
    request: Request, submission_id: str, item_id: str, session: SessionDep, user: WebStaff
) -> JSONResponse:
    try:
        changes = desk.mark_changes(
            session=session,
            courseworks=request.app.state.courseworks,
            submission_id=_submission_id(submission_id),
            item_id=item_id,
            reader=_user(session, user),
        )
    except desk.DeskError as exc:
        return _refused(exc)
    return JSONResponse([c.model_dump(mode="json") for c in changes])


def _invalid(exc: ValidationError) -> str:
    return "the request is not valid: " + "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()
    )


# -- what a run stored ----------------------------------------------------------------------------


@router.get("/runs/{run_id}/notebook")
def rendered_notebook(run_id: int, session: SessionDep, blobs: BlobStoreDep, user: WebStaff) -> Response:
    """The student's notebook as submitted, rendered and sanitised at grading time. Its own CSP lets
    it load nothing and run nothing, even outside the iframe sandbox the marking page puts it in."""
    key = session.scalar(select(GradingRun.rendered_notebook_key).where(GradingRun.id == run_id))
    if not key:
        raise WebError(404, "this run has no rendered notebook.")
    return stream_blob(
        blobs,
        key,
        media_type="text/html; charset=utf-8",
        headers={**BLOB_HEADERS, "Content-Security-Policy": RENDER_CSP, "Referrer-Policy": "no-referrer"},
    )


@router.get("/submissions/{submission_id}/notebook")
def graded_notebook(
    request: Request, submission_id: str, session: SessionDep, blobs: BlobStoreDep, user: WebStaff
) -> Response:
    """The notebook that was graded, to download: the ``.ipynb`` as received, or the zip member
    intake staged (``grader.notebooks.zip_members``), never another member of the same name."""
    sub = session.get(Submission, _submission_id(submission_id))
    if sub is None:
        raise WebError(404, "there is no such submission.")
    ref = coursework(request, session, session.get_one(Coursework, sub.coursework_id).code)  # a foreign key
    name = ref.files.rubric.submission.notebook
    try:
        with open_blob(blobs, sub.blob_key) as stream:
            data = notebook_from_stream(
                stream,
                name,
                request.app.state.settings.execution.max_notebook_mb * 2**20,
                snapshot=ref.files.rubric.submission.allow_extra_files,
            )
    except NotebookUnreadable as exc:
        raise WebError(422, f"the notebook could not be read: {exc}") from None
    return Response(
        data,
        media_type="application/x-ipynb+json",
        headers={
            **BLOB_HEADERS,
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Security-Policy": "default-src 'none'",
        },
    )


@router.get("/runs/{run_id}/artifacts/{name}")
def run_artifact(run_id: int, name: str, session: SessionDep, blobs: BlobStoreDep, user: WebStaff) -> Response:
    row = session.scalars(select(RunArtifact).where(RunArtifact.run_id == run_id, RunArtifact.name == name)).first()
    if row is None:
        raise WebError(404, "this run has no such picture.")
    return stream_blob(
        blobs,
        row.blob_key,
        media_type=row.media_type,
        headers={**BLOB_HEADERS, "Content-Security-Policy": "default-src 'none'"},
    )
