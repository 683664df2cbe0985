"""The lecturer's moderation: draw a sample of the graded work (a share, at least N, stratified
over mark bands and markers, reproducible with the seed), read each sampled submission with its
markers' marks, and record agreed / adjusted (adjusting itself happens on the marking page)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from grader.http.deps import SessionDep
from grader.marking.moderation import Marked, draw_sample, latest_sample, marks_in_force, record_outcome
from grader.marking.overview import coursework_overview
from grader.marking.scale_models import ModerationOutcome
from grader.users.models import User
from grader.web.deps import WebError, WebLecturer
from grader.web.lookups import coursework
from grader.web.templating import render

router = APIRouter(prefix="/lecturer")


def _number(value: str, what: str, kind: type = int):
    try:
        return kind(value.strip())
    except ValueError:
        raise WebError(400, f"{what} must be a number, not {value[:40]!r}.") from None


@router.get("/courseworks/{cw}/moderation")
def moderation(request: Request, cw: str, session: SessionDep, user: WebLecturer) -> Response:
    ref = coursework(request, session, cw)
    rows = {r.student_id: r for r in coursework_overview(session=session, rubric=ref.files.rubric, coursework=ref.row)}
    sample, picks = latest_sample(session=session, coursework_id=ref.row.id)
    marks = marks_in_force(
        session=session, coursework_id=ref.row.id, subs={p.student_id: p.submission_id for p in picks}
    )
    user_ids = {p.marker_id for p in picks} | {m.updated_by_id for ms in marks.values() for m in ms.values()}
    users = dict(session.execute(select(User.id, User.username).where(User.id.in_(user_ids))).all())
    hand = [i for i in ref.files.rubric.items if i.kind != "auto"]
    return render(
        request,
        "lecturer/moderation.html",
        {
            "cw": ref.row,
            "sample": sample,
            "picks": picks,
            "rows": rows,
            "marks": marks,
            "users": users,
            "hand": hand,
            "graded": sum(1 for r in rows.values() if r.total is not None),
            "by_band": Counter(p.band for p in picks),
            "by_marker": Counter(
                users.get(p.marker_id, "nobody") if p.marker_id is not None else "nobody" for p in picks
            ),
            "outcomes": [o.value for o in ModerationOutcome],
        },
        user=user,
    )


@router.post("/courseworks/{cw}/moderation/sample")
def draw(
    request: Request,
    cw: str,
    session: SessionDep,
    user: WebLecturer,
    percent: Annotated[str, Form()] = "10",
    minimum: Annotated[str, Form()] = "5",
    seed: Annotated[str, Form()] = "0",
) -> Response:
    ref = coursework(request, session, cw)
    work = [
        Marked(r.student_id, r.submission_id, r.total, r.max_score)
        for r in coursework_overview(session=session, rubric=ref.files.rubric, coursework=ref.row)
        if r.submission_id is not None
    ]
    try:
        draw_sample(
            session=session,
            coursework_id=ref.row.id,
            work=work,
            percent=_number(percent, "the share", float),
            minimum=_number(minimum, "the minimum"),
            seed=_number(seed, "the seed"),
            by_user_id=user.id,
        )
    except ValueError as exc:
        raise WebError(400, str(exc)) from None
    return RedirectResponse(f"/lecturer/courseworks/{cw}/moderation", status_code=303)


@router.post("/courseworks/{cw}/moderation/picks/{pick_id}")
def decide(
    request: Request,
    cw: str,
    pick_id: int,
    session: SessionDep,
    user: WebLecturer,
    outcome: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    ref = coursework(request, session, cw)
    try:
        chosen = ModerationOutcome(outcome)
    except ValueError:
        raise WebError(400, "the outcome is agreed or adjusted.") from None
    if len(note) > 5000:
        raise WebError(400, "the note is at most 5000 characters.")
    if (
        record_outcome(
            session=session,
            coursework_id=ref.row.id,
            pick_id=pick_id,
            outcome=chosen,
            note=note.strip(),
            by_user_id=user.id,
        )
        is None
    ):
        raise WebError(404, "that submission is not in this coursework's sample.")
    return RedirectResponse(f"/lecturer/courseworks/{cw}/moderation#pick-{pick_id}", status_code=303)
