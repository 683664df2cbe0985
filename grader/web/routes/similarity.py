"""The lecturer's similarity pages: the ranked pairs of a coursework's counting submissions (and
each against earlier years), and two notebooks side by side with their shared regions highlighted.
The same domain functions as the API (``grader.similarity``); lecturers only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from grader.http.deps import BlobStoreDep, SessionDep, SettingsDep
from grader.marking.anonymity import identity_view
from grader.similarity import service
from grader.similarity.shown import shown_notebooks
from grader.web.deps import WebError, WebLecturer
from grader.web.lookups import coursework
from grader.web.templating import render

router = APIRouter(prefix="/lecturer")
SHOWN = 200  # pairs on the page; the API and the CLI give more
Key = Annotated[str, Query(min_length=1, max_length=40)]


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    match: int | None  # the match number (0: shared, but not numbered on this side), None: not shared


@router.get("/courseworks/{cw}/similarity")
def similarity_page(
    request: Request, cw: str, session: SessionDep, settings: SettingsDep, blobs: BlobStoreDep, user: WebLecturer
) -> Response:
    ref = coursework(request, session, cw)
    found = service.cohort_report(
        session=session,
        coursework=ref.row,
        files=ref.files,
        blobs=blobs,
        max_bytes=settings.execution.max_notebook_mb * 2**20,
    )
    listed = found.pairs[:SHOWN]
    view = identity_view(session=session, coursework_id=ref.row.id, reader_role=user.role)
    shown = shown_notebooks(
        [found.entries[k] for k in {*(p.a for p in listed), *(p.b for p in listed), *found.unreadable}], view
    )
    return render(
        request,
        "lecturer/similarity.html",
        {"cw": ref.row, "report": found, "pairs": listed, "shown": shown, "limit": SHOWN},
        user=user,
    )


@router.get("/courseworks/{cw}/similarity/compare")
def compare_page(
    request: Request,
    cw: str,
    session: SessionDep,
    settings: SettingsDep,
    blobs: BlobStoreDep,
    user: WebLecturer,
    a: Key,
    b: Key,
) -> Response:
    ref = coursework(request, session, cw)
    try:
        pv = service.pair_view(
            session=session,
            coursework=ref.row,
            files=ref.files,
            blobs=blobs,
            max_bytes=settings.execution.max_notebook_mb * 2**20,
            left=a,
            right=b,
        )
    except service.SimilarityError as exc:
        raise WebError(404, str(exc)) from None
    view = identity_view(session=session, coursework_id=ref.row.id, reader_role=user.role)
    shown = shown_notebooks([pv.left, pv.right], view)
    return render(
        request,
        "lecturer/similarity_pair.html",
        {
            "cw": ref.row,
            "pv": pv,
            "left": shown[pv.left.key],
            "right": shown[pv.right.key],
            "left_cells": _lines(pv.left_cells, pv.view.left_lines),
            "right_cells": _lines(pv.right_cells, pv.view.right_lines),
        },
        user=user,
    )


def _lines(cells: list[str], marks: dict[int, dict[int, int]]) -> list[list[Line]]:
    return [
        [Line(n, text, marks.get(i, {}).get(n)) for n, text in enumerate(source.splitlines() or [""], start=1)]
        for i, source in enumerate(cells)
    ]
