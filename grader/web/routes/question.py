"""The question view (GTAs and lecturers): one hand-marked item across every counting submission
in a row, each student's answer cut from their notebook by its section heading
(``grader/marking/cells.py``) beside a score box and a comment that save through the marking
page's own route (so the same marking service, versions and 409s); and the item's comment bank.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.http.deps import BlobStoreDep, CourseworkRef, SessionDep
from grader.marking.comment_bank import add_comment, bank, remove_comment, used_comments
from grader.marking.moderation import marks_in_force
from grader.marking.overview import OverviewRow
from grader.rubrics.model import Item
from grader.submissions.models import Submission
from grader.users.models import User
from grader.web.anonymity import hides_names
from grader.web.answers import answer_for
from grader.web.deps import WebError, WebStaff
from grader.web.lookups import coursework
from grader.web.marker_rows import staff_rows
from grader.web.templating import render

router = APIRouter(prefix="/staff")


def _hand_item(ref: CourseworkRef, item_id: str) -> Item:
    item = next((i for i in ref.files.rubric.items if i.id == item_id), None)
    if item is None:
        raise WebError(404, f"{ref.row.code} has no item {item_id!r}.")
    if item.kind == "auto":
        raise WebError(
            400,
            f"item {item_id!r} is marked by its tests; the question view is for hand-marked "
            "(manual or suggested) items. Override it on each submission's marking page.",
        )
    return item


def _submission_id(row: OverviewRow) -> uuid.UUID:
    """The row's counting submission; the question view keeps only rows that have one."""
    assert row.submission_id is not None
    return row.submission_id


@router.get("/courseworks/{cw}/items/{item_id}")
def question_view(
    request: Request,
    cw: str,
    item_id: str,
    session: SessionDep,
    blobs: BlobStoreDep,
    user: WebStaff,
    mine: bool = False,
    unmarked: bool = False,
) -> Response:
    ref = coursework(request, session, cw)
    item = _hand_item(ref, item_id)
    rows = [r for r in staff_rows(request, session, user, ref, mine) if r.submission_id is not None]
    subs = {r.student_id: _submission_id(r) for r in rows}
    marks = marks_in_force(session=session, coursework_id=ref.row.id, subs=subs)
    given = {sid: m[item.id] for sid, m in marks.items() if item.id in m}
    if unmarked:
        rows = [r for r in rows if r.student_id not in given or given[r.student_id].score is None]
    keys = dict(
        session.execute(
            select(Submission.id, Submission.blob_key).where(Submission.id.in_([r.submission_id for r in rows]))
        ).all()
    )
    users = dict(
        session.execute(
            select(User.id, User.username).where(User.id.in_({m.updated_by_id for m in given.values()}))
        ).all()
    )
    max_bytes = request.app.state.settings.execution.max_notebook_mb * 2**20
    answers = [
        {
            "row": r,
            "mark": given.get(r.student_id),
            "by": users.get(given[r.student_id].updated_by_id) if r.student_id in given else None,
            "answer": answer_for(
                blobs,
                keys[_submission_id(r)],
                ref.files.rubric.submission.notebook,
                item.title,
                max_bytes,
                snapshot=ref.files.rubric.submission.allow_extra_files,
            ),
        }
        for r in rows
    ]
    hand = [i for i in ref.files.rubric.items if i.kind != "auto"]
    at = hand.index(item)
    return render(
        request,
        "staff/question.html",
        {
            "cw": ref.row,
            "item": item,
            "answers": answers,
            "mine": mine,
            "unmarked": unmarked,
            "anonymous": hides_names(session, user, ref.row.id),
            "previous_item": hand[at - 1] if at > 0 else None,
            "next_item": hand[at + 1] if at + 1 < len(hand) else None,
            "bank": bank(session=session, coursework_id=ref.row.id, item_id=item.id),
            "used": used_comments(session=session, coursework_id=ref.row.id, item_id=item.id),
        },
        user=user,
    )


# -- the comment bank -----------------------------------------------------------------------------


async def _text_of(request: Request) -> str:
    try:
        body: Any = await request.json()
    except ValueError:
        raise WebError(400, "send a JSON object with the comment's text.") from None
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str):
        raise WebError(400, "send a JSON object with the comment's text.")
    return text


def _add(request: Request, session: Session, user_id: int, cw: str, item_id: str, text: str) -> JSONResponse:
    ref = coursework(request, session, cw)
    item = _hand_item(ref, item_id)
    try:
        entry = add_comment(session=session, coursework_id=ref.row.id, item_id=item.id, text=text, by_user_id=user_id)
    except ValueError as exc:
        raise WebError(400, str(exc)) from None
    return JSONResponse({"id": entry.id, "text": entry.text})


@router.post("/courseworks/{cw}/items/{item_id}/comments")
async def keep_comment(request: Request, cw: str, item_id: str, session: SessionDep, user: WebStaff) -> Response:
    """Keep a comment in the item's bank (JSON ``{"text": ...}``); answers the entry."""
    text = await _text_of(request)
    return await run_in_threadpool(_add, request, session, user.id, cw, item_id, text)


@router.delete("/courseworks/{cw}/items/{item_id}/comments/{entry_id}")
def drop_comment(
    request: Request, cw: str, item_id: str, entry_id: int, session: SessionDep, user: WebStaff
) -> Response:
    ref = coursework(request, session, cw)
    item = _hand_item(ref, item_id)
    if not remove_comment(session=session, coursework_id=ref.row.id, item_id=item.id, entry_id=entry_id):
        raise WebError(404, "that comment is not in this item's bank.")
    return JSONResponse({"removed": entry_id})
