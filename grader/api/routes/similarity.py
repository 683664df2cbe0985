"""Similarity across a cohort (``grader.similarity``): the ranked pairs of a coursework's counting
submissions (and each against the archive of earlier years), and one pair with its matching regions.
Lecturers only: no student, GTA or course system reaches it."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from grader.api.responses import ERRORS
from grader.api.schemas.similarity import (
    ComparisonRead,
    MatchRead,
    NotebookRead,
    PairRead,
    RegionRead,
    SimilarityReportRead,
    UnreadableRead,
)
from grader.http.deps import BlobStoreDep, CourseworkDep, Require, SessionDep, SettingsDep
from grader.marking.anonymity import identity_view
from grader.similarity import service
from grader.similarity.shown import shown_notebooks
from grader.users.models import Role
from grader.users.service import TokenOwner

router = APIRouter(tags=["similarity"])
SimilarityReader = Annotated[TokenOwner, Depends(Require(Role.lecturer, scope="read"))]
KEY = re.compile(r"[0-9a-fA-F-]{36}|archive-[0-9]{1,9}")
NotebookKey = Annotated[
    str, Query(min_length=1, max_length=40, description="a submission's id, or archive-<id> (as the report names them)")
]


@router.get("/courseworks/{cw}/similarity", response_model=SimilarityReportRead, responses=ERRORS)
def report(
    session: SessionDep,
    settings: SettingsDep,
    blobs: BlobStoreDep,
    coursework: CourseworkDep,
    owner: SimilarityReader,
    limit: Annotated[int, Query(ge=1, le=5000, description="how many pairs, best first")] = 100,
    archive: Annotated[bool, Query(description="compare with the archive of earlier years too")] = True,
) -> SimilarityReportRead:
    """The pairs of notebooks that share code beyond the skeleton, best first: the submission that
    counts per student, each against the others and against earlier years' notebooks. Code given in
    the skeleton and code common to the cohort do not count. Notebooks are read, never run."""
    found = service.cohort_report(
        session=session,
        coursework=coursework.row,
        files=coursework.files,
        blobs=blobs,
        max_bytes=settings.execution.max_notebook_mb * 2**20,
        with_archive=archive,
    )
    view = identity_view(session=session, coursework_id=coursework.row.id, reader_role=owner.user.role)
    listed = found.pairs[:limit]
    shown = shown_notebooks(
        [found.entries[k] for k in {*(p.a for p in listed), *(p.b for p in listed), *found.unreadable}], view
    )
    return SimilarityReportRead(
        coursework=coursework.row.code,
        compared=found.compared,
        archived=found.archived,
        pairs_found=len(found.pairs),
        pairs=[PairRead.of(rank, p, shown) for rank, p in enumerate(listed, start=1)],
        unreadable=[UnreadableRead(notebook=NotebookRead.of(shown[k]), reason=r) for k, r in found.unreadable.items()],
    )


@router.get("/courseworks/{cw}/similarity/compare", response_model=ComparisonRead, responses=ERRORS)
def compare(
    session: SessionDep,
    settings: SettingsDep,
    blobs: BlobStoreDep,
    coursework: CourseworkDep,
    owner: SimilarityReader,
    a: NotebookKey,
    b: NotebookKey,
) -> ComparisonRead:
    """Two notebooks side by side: their code cells and the regions they share (numbered alike on
    both sides), the skeleton's code and code common to the cohort left out."""
    for key in (a, b):
        if not KEY.fullmatch(key):
            raise HTTPException(422, f"{key!r} names no notebook: give a submission's id or archive-<id>.")
    try:
        pv = service.pair_view(
            session=session,
            coursework=coursework.row,
            files=coursework.files,
            blobs=blobs,
            max_bytes=settings.execution.max_notebook_mb * 2**20,
            left=a,
            right=b,
        )
    except service.SimilarityError as exc:
        raise HTTPException(404, str(exc)) from None
    view = identity_view(session=session, coursework_id=coursework.row.id, reader_role=owner.user.role)
    shown = shown_notebooks([pv.left, pv.right], view)
    listed = PairRead.of(pv.rank, pv.score, shown) if pv.score is not None and pv.rank is not None else None
    return ComparisonRead(
        coursework=coursework.row.code,
        a=NotebookRead.of(shown[pv.left.key]),
        b=NotebookRead.of(shown[pv.right.key]),
        listed=listed,
        matches=[
            MatchRead(number=m.number, a=RegionRead.of(m.left), b=RegionRead.of(m.right) if m.right else None)
            for m in pv.view.matches
        ],
        a_cells=pv.left_cells,
        b_cells=pv.right_cells,
    )
