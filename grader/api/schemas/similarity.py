"""Similarity across a cohort over JSON (``grader.similarity``): lecturers only."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel

from grader.similarity.ranking import PairScore
from grader.similarity.regions import Region
from grader.similarity.shown import ShownNotebook


class NotebookRead(BaseModel):
    key: str  # the submission's id, or archive-<id>: what the compare route takes
    kind: str  # submission | archive
    label: str  # the student's name (with anonymous marking: as the reader is shown them), or "year: file"
    external_id: str | None = None
    pseudonym: str | None = None
    submission_id: uuid.UUID | None = None
    received_at: dt.datetime | None = None
    year: int | None = None

    @classmethod
    def of(cls, n: ShownNotebook) -> NotebookRead:
        return cls(
            key=n.key,
            kind=n.kind,
            label=n.label,
            external_id=n.student.external_id if n.student else None,
            pseudonym=n.student.pseudonym if n.student else None,
            submission_id=n.submission_id,
            received_at=n.received_at,
            year=n.year,
        )


class PairRead(BaseModel):
    rank: int
    score: float  # shared fingerprints over the smaller notebook's (at least 20), 0..1
    shared: int
    a_share: float  # share of a's fingerprints that b holds too
    b_share: float
    a: NotebookRead
    b: NotebookRead

    @classmethod
    def of(cls, rank: int, p: PairScore, shown: dict[str, ShownNotebook]) -> PairRead:
        return cls(
            rank=rank,
            score=round(p.score, 4),
            shared=p.shared,
            a_share=round(p.a_share, 4),
            b_share=round(p.b_share, 4),
            a=NotebookRead.of(shown[p.a]),
            b=NotebookRead.of(shown[p.b]),
        )


class UnreadableRead(BaseModel):
    notebook: NotebookRead
    reason: str


class SimilarityReportRead(BaseModel):
    coursework: str
    compared: int  # this year's notebooks (the submission that counts per student)
    archived: int  # earlier years' notebooks compared with them
    pairs_found: int  # pairs sharing enough code to be listed; ``pairs`` holds the first ``limit``
    pairs: list[PairRead]
    unreadable: list[UnreadableRead]


class RegionRead(BaseModel):
    cell: int  # the code cell's index (0-based, code cells only)
    first_line: int  # 1-based, inclusive
    last_line: int

    @classmethod
    def of(cls, r: Region) -> RegionRead:
        return cls(cell=r.cell, first_line=r.first_line, last_line=r.last_line)


class MatchRead(BaseModel):
    number: int
    a: RegionRead
    b: RegionRead | None  # None: b's copy of these lines is spread over several regions


class ComparisonRead(BaseModel):
    coursework: str
    a: NotebookRead
    b: NotebookRead
    listed: PairRead | None  # the pair as the ranked list has it; None: they share too little to be listed
    matches: list[MatchRead]
    a_cells: list[str]  # the code cells' sources
    b_cells: list[str]
