"""What the marker's desk (``desk.py``) answers: one submission's marking view, marks, overrides,
penalty decisions, the counting pick and duplicate flags, as the API sends them and the dashboard
shows them. Read models only: what a marker sends arrives as plain arguments of ``desk``'s functions."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel


# A PNG a run's hidden tests drew (markers see every one; a student as its item's visibility allows).
class ArtifactRead(BaseModel):
    name: str
    title: str
    media_type: str
    sha256: str
    size_bytes: int
    item_id: str | None = None  # the rubric item whose test drew it; None: no item's (markers only)
    url: str  # the PNG itself (the API's address under /api/v1)


class StudentRef(BaseModel):
    """A student as the caller may see them: under anonymous marking a GTA gets the pseudonym as
    ``name`` and no ``external_id``; lecturers get both, with the pseudonym alongside."""

    external_id: str | None
    name: str
    pseudonym: str | None = None  # the coursework's label ("Candidate 041307") when marking is anonymous
    anonymous: bool = False  # True: name is the pseudonym; who the student is is withheld


class MarkRead(BaseModel):
    item_id: str
    score: float | None  # None: cleared (an override falls back to the auto score)
    comment: str
    kind: str  # manual | override
    version: int  # name it as expected_version to change the mark
    scope: str  # submission: this submission's own; coursework: the student's for the coursework
    updated_by: str
    updated_at: dt.datetime


class MarkChangeRead(BaseModel):
    version: int
    old_score: float | None
    new_score: float | None
    comment: str
    changed_by: str
    changed_at: dt.datetime


class DecisionRead(BaseModel):
    applied: bool
    comment: str
    version: int  # this decision's place in the penalty's history, from 1
    scope: str  # submission | coursework
    decided_by: str
    decided_at: dt.datetime


class RunSummaryRead(BaseModel):
    id: int
    status: str
    score: float | None
    max_score: float | None
    finished_at: dt.datetime | None
    log: str
    # What graded it (markers only, never students): the hidden suite's and the rubric file's digests.
    hidden_digest: str | None = None
    rubric_digest: str | None = None


class MarkingItemRead(BaseModel):
    id: str
    part: str
    title: str
    points: float
    kind: str  # auto | manual | suggest
    visibility: str
    auto_score: float | None  # the run's score (auto items; a suggestion is in the message)
    status: str | None  # the run's verdict: passed | partial | failed | timeout | error | manual
    message: str | None  # the run's test message (hidden items' too: markers see everything)
    score: float  # what counts now
    source: str  # auto | override | manual | pending | unmarked
    mark: MarkRead | None


class MarkingPenaltyRead(BaseModel):
    id: str
    title: str
    points: float
    visibility: str
    auto_applied: bool  # the run applied it
    message: str | None
    applied: bool  # in force now
    version: int | None  # decisions so far (None: none): name it as expected_version to decide
    decision: DecisionRead | None  # the decision in force
    history: list[DecisionRead]


class PartRead(BaseModel):
    id: str
    title: str
    score: float
    max_score: float


class TotalRead(BaseModel):
    items_score: float
    penalty_points: float
    before_late: float
    late_minutes: int
    late_factor: float
    late_label: str = "on time"  # "late, capped at 50%", "late, penalty waived" ...
    total: float
    max_score: float
    complete: bool
    parts: list[PartRead]
    notes: list[str]


class DuplicateRead(BaseModel):
    path: str  # this submission's file
    sha256: str
    other_submission_id: uuid.UUID
    other_student: StudentRef
    other_path: str
    other_is_earlier: bool  # True: this file copies the other's; False: the other copies this one


class CountingChoiceRead(BaseModel):
    submission_id: uuid.UUID
    reason: str
    chosen_by: str | None
    chosen_at: dt.datetime


class MarkingRead(BaseModel):
    """Everything a marker needs for one submission."""

    submission_id: uuid.UUID
    coursework: str
    student: StudentRef
    received_at: dt.datetime
    late_minutes: int
    late: bool
    counting: bool  # this is the submission that counts for the student's mark
    counting_choice: CountingChoiceRead | None  # a lecturer's pick (of this or another submission)
    run: RunSummaryRead | None  # the latest graded full run
    items: list[MarkingItemRead]
    penalties: list[MarkingPenaltyRead]
    total: TotalRead
    duplicates: list[DuplicateRead]
    artifacts: list[ArtifactRead] = []  # the run's PNGs drawn by hidden tests (run_artifacts)
    # Exactly the files that were graded, and a repository snapshot's files that were not.
    graded_files: list[str] = []
    ignored_files: list[str] = []
    # The course system's reference (null under anonymous marking for a GTA: a repository URL
    # names its owner).
    cate_submission_id: str | None = None
    labts_repository: str | None = None
    labts_commit: str | None = None


class MarkSaved(BaseModel):
    mark: MarkRead
    counting: bool  # whether the total below is the student's coursework mark
    total: TotalRead  # this submission's new total


class MarkConflict(BaseModel):
    detail: str
    current: MarkRead | None


class PenaltySaved(BaseModel):
    penalty: MarkingPenaltyRead
    counting: bool
    total: TotalRead


class PenaltyConflict(BaseModel):
    detail: str
    current: MarkingPenaltyRead


class CountingRead(BaseModel):
    student: StudentRef
    coursework: str
    counting_submission_id: uuid.UUID | None
    choice: CountingChoiceRead | None  # None: the rubric's rule decides


class DuplicateHolderRead(BaseModel):
    submission_id: uuid.UUID
    student: StudentRef
    path: str
    received_at: dt.datetime
    flagged: bool  # False: the earliest holder, whose file the others copy


class DuplicateGroupRead(BaseModel):
    sha256: str
    submissions: list[DuplicateHolderRead]


class CourseworkDuplicatesRead(BaseModel):
    coursework: str
    groups: list[DuplicateGroupRead]
