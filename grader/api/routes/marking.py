"""The marker's desk: one submission's marking view, marks and overrides with their history,
penalty decisions, the lecturer's counting pick, and duplicate flags.

A mark made here is the submission's own (``set_mark`` with ``submission_id``): it judges that
file, so it never drifts onto another upload, and it lives apart from the runs, so an override
survives every regrade. Where the student already has a coursework-wide mark for the item (set
by a script) and the submission none, that mark is the one in force and the one edited, so the
version a marker read is always the version checked. Each write commits once, with its audit event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.api.responses import ERRORS, error
from grader.api.routes.artifacts import artifact_reads
from grader.api.routes.submissions import visible_submission
from grader.api.schemas.marking import (
    CountingChoiceRead,
    CountingRead,
    CountingWrite,
    CourseworkDuplicatesRead,
    DecisionRead,
    DuplicateGroupRead,
    DuplicateHolderRead,
    DuplicateRead,
    MarkChangeRead,
    MarkConflict,
    MarkingItemRead,
    MarkingPenaltyRead,
    MarkingRead,
    MarkRead,
    MarkSaved,
    MarkWrite,
    PartRead,
    PenaltyConflict,
    PenaltySaved,
    PenaltyWrite,
    RunSummaryRead,
    StudentRef,
    TotalRead,
)
from grader.courseworks.models import Coursework
from grader.http.deps import CourseworkDep, CurrentMarker, Require, SessionDep
from grader.marking.anonymity import IdentityView, identity_view, rubric_file_names
from grader.marking.models import ManualMark, MarkKind, PenaltyDecision
from grader.marking.service import (
    StaleDecision,
    StaleMark,
    decide_penalty,
    decisions_in_force,
    mark_history,
    mark_in_force,
    penalty_decisions,
    set_mark,
)
from grader.marking.sheet import SubmissionMarks, marks_of_submission
from grader.marks.totals import CourseworkTotal
from grader.rubrics.model import Item, Penalty, Rubric
from grader.submissions.models import CountingChoice, Submission
from grader.submissions.service import (
    choose_counting_submission,
    clear_counting_choice,
    counting_choice,
    counting_submission,
    coursework_duplicates,
    duplicates_of,
)
from grader.users.models import Role, User
from grader.users.service import TokenOwner

router = APIRouter(tags=["marking"])

MarkingReader = Annotated[TokenOwner, Depends(Require(Role.gta, Role.lecturer, scope="read"))]
CountingPicker = Annotated[TokenOwner, Depends(Require(Role.lecturer, scope="mark"))]
STALE = "changed since you read it: nothing was written; the body holds the current value"


# --- reading -------------------------------------------------------------------------------------


def _desk(request: Request, session: Session, submission_id: uuid.UUID, owner: TokenOwner
          ) -> tuple[Submission, Coursework, Rubric]:
    sub = visible_submission(session, owner, submission_id)
    coursework = session.get(Coursework, sub.coursework_id)
    files = request.app.state.courseworks.get(coursework.code)
    if files is None:
        raise HTTPException(404, f"coursework {coursework.code!r} has no rubric loaded.")
    return sub, coursework, files.rubric


def _item(rubric: Rubric, item_id: str) -> Item:
    item = next((i for i in rubric.items if i.id == item_id), None)
    if item is None:
        raise HTTPException(404, f"{rubric.coursework} has no item {item_id!r}.")
    return item


def _penalty(rubric: Rubric, penalty_id: str) -> Penalty:
    penalty = next((p for p in rubric.penalties if p.id == penalty_id), None)
    if penalty is None:
        raise HTTPException(404, f"{rubric.coursework} has no penalty {penalty_id!r}.")
    return penalty


def _usernames(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return {row.id: row.username for row in rows}


def identities(session: Session, owner: TokenOwner, coursework_id: int, rubric: Rubric) -> IdentityView:
    """How this caller may name the coursework's students (pseudonyms for a GTA under anonymity)."""
    return identity_view(session=session, coursework_id=coursework_id, reader_role=owner.user.role,
                         safe_names=rubric_file_names(rubric))


def _student(view: IdentityView, student_id: int) -> StudentRef:
    shown = view.student(student_id)
    return StudentRef(external_id=shown.external_id, name=shown.name, pseudonym=shown.pseudonym,
                      anonymous=shown.anonymous)


def _is_counting(session: Session, sub: Submission, rubric: Rubric) -> bool:
    counting = counting_submission(session=session, student_id=sub.student_id, coursework_id=sub.coursework_id,
                                   grace_minutes=rubric.late_policy.grace_minutes)
    return counting is not None and counting.id == sub.id


def _mark_read(mark: ManualMark, users: dict[int, str]) -> MarkRead:
    return MarkRead(item_id=mark.item_id, score=mark.score, comment=mark.comment, kind=mark.kind.value,
                    version=mark.version, scope="coursework" if mark.submission_id is None else "submission",
                    updated_by=users.get(mark.updated_by_id, "?"), updated_at=mark.updated_at)


def _total_read(total: CourseworkTotal) -> TotalRead:
    return TotalRead(items_score=total.items_score, penalty_points=total.penalty_points,
                     before_late=total.before_late, late_minutes=total.lateness.minutes,
                     late_factor=total.lateness.factor, total=total.total, max_score=total.max_score,
                     complete=total.complete, notes=list(total.notes),
                     parts=[PartRead(id=p.id, title=p.title, score=p.score, max_score=p.max_score)
                            for p in total.parts])


def _penalty_reads(session: Session, rubric: Rubric, sub: Submission, marks: SubmissionMarks, view: IdentityView,
                   only: str | None = None) -> list[MarkingPenaltyRead]:
    rows = penalty_decisions(session=session, submission=sub, penalty_id=only)
    users = _usernames(session, (d.decided_by_id for d in rows))
    run_penalties = {p.penalty_id: p for p in (marks.run.penalties if marks.run else [])}
    lines = {p.id: p for p in marks.total.penalties}
    in_force = decisions_in_force(rows)
    reads = []
    for penalty in rubric.penalties:
        if only is not None and penalty.id != only:
            continue
        history = [r for r in rows if r.penalty_id == penalty.id]
        versions = {d.id: n for n, d in enumerate(history, start=1)}

        def decision(d: PenaltyDecision) -> DecisionRead:
            return DecisionRead(applied=d.applied, comment=d.comment, version=versions[d.id],
                                scope="coursework" if d.submission_id is None else "submission",
                                decided_by=users.get(d.decided_by_id, "?"), decided_at=d.decided_at)

        run_penalty = run_penalties.get(penalty.id)
        current = in_force.get(penalty.id)
        reads.append(MarkingPenaltyRead(
            id=penalty.id, title=penalty.title, points=penalty.points, visibility=penalty.visibility.value,
            auto_applied=lines[penalty.id].auto_applied,
            message=_about(view, sub, run_penalty.message) if run_penalty else None,
            applied=lines[penalty.id].applied, version=len(history) or None,
            decision=decision(current) if current else None, history=[decision(d) for d in history]))
    return reads


def _about(view: IdentityView, sub: Submission, text: str | None) -> str | None:
    """A text about the submission, as this reader may see it (``IdentityView.text``)."""
    return view.text(text, sub.student_id, [sub.original_filename])


def _choice_read(choice: CountingChoice | None, users: dict[int, str], view: IdentityView
                 ) -> CountingChoiceRead | None:
    if choice is None:
        return None
    return CountingChoiceRead(submission_id=choice.submission_id, reason=view.text(choice.reason, choice.student_id),
                              chosen_by=users.get(choice.chosen_by_id), chosen_at=choice.chosen_at)


def _marking_read(session: Session, rubric: Rubric, coursework: Coursework, sub: Submission,
                  view: IdentityView) -> MarkingRead:
    marks = marks_of_submission(session=session, rubric=rubric, sub=sub)
    run = marks.run
    in_force = {i.id: mark_in_force(session=session, submission=sub, item_id=i.id) for i in rubric.items}
    choice = counting_choice(session=session, student_id=sub.student_id, coursework_id=sub.coursework_id)
    users = _usernames(session, [*(m.updated_by_id for m in in_force.values() if m),
                                 choice.chosen_by_id if choice else None])
    run_items = {i.item_id: i for i in (run.items if run else [])}
    lines = {line.id: line for line in marks.total.items}
    items = []
    for item in rubric.items:
        run_item, line, mark = run_items.get(item.id), lines[item.id], in_force[item.id]
        items.append(MarkingItemRead(
            id=item.id, part=item.part, title=item.title, points=item.points, kind=item.kind,
            visibility=item.visibility.value, auto_score=run_item.score if run_item else None,
            status=run_item.status if run_item else None,
            message=_about(view, sub, run_item.message) if run_item else None,
            score=line.score, source=line.source, mark=_mark_read(mark, users) if mark else None))
    duplicates = [DuplicateRead(path=view.filename(d.path), sha256=d.sha256, other_submission_id=d.other.id,
                                other_student=_student(view, d.other.student_id),
                                other_path=view.filename(d.other_path), other_is_earlier=d.other_is_earlier)
                  for d in duplicates_of(session=session, submission_id=sub.id)]
    return MarkingRead(
        submission_id=sub.id, coursework=coursework.code, student=_student(view, sub.student_id),
        received_at=sub.received_at, late_minutes=sub.late_minutes, late=sub.late_minutes > 0,
        counting=_is_counting(session, sub, rubric), counting_choice=_choice_read(choice, users, view),
        run=RunSummaryRead(id=run.id, status=run.status.value, score=run.score, max_score=run.max_score,
                           finished_at=run.finished_at, log=_about(view, sub, run.log) or "") if run else None,
        items=items, penalties=_penalty_reads(session, rubric, sub, marks, view), total=_total_read(marks.total),
        duplicates=duplicates, artifacts=artifact_reads(sub.id, run) if run else [])


@router.get("/submissions/{submission_id}/marking", response_model=MarkingRead, responses=ERRORS)
def marking_view(request: Request, submission_id: uuid.UUID, session: SessionDep, owner: MarkingReader) -> MarkingRead:
    """Everything a marker needs for one submission: its run, every item (hidden ones too) with
    the run's score and message and the mark in force, the penalties and their decisions, the
    total, and identical-file flags."""
    sub, coursework, rubric = _desk(request, session, submission_id, owner)
    return _marking_read(session, rubric, coursework, sub, identities(session, owner, coursework.id, rubric))


# --- marks ---------------------------------------------------------------------------------------


@router.put("/submissions/{submission_id}/marks/{item_id}", response_model=MarkSaved,
            responses={**ERRORS, 409: {"model": MarkConflict, "description": STALE},
                       422: error("a score outside 0..the item's points, or a wrong type")})
def put_mark(request: Request, submission_id: uuid.UUID, item_id: str, body: MarkWrite, session: SessionDep,
             owner: CurrentMarker) -> MarkSaved | JSONResponse:
    """Mark a manual or suggested item, or override an auto item (``score: null`` clears it).
    Name the version you read (null for a first mark): a stale one gets 409 and the current mark."""
    sub, _, rubric = _desk(request, session, submission_id, owner)
    item = _item(rubric, item_id)
    if body.score is not None and body.score > item.points:
        raise HTTPException(422, f"a score for {item.id!r} must be between 0 and {item.points:g}, not {body.score:g}.")
    current = mark_in_force(session=session, submission=sub, item_id=item.id)
    coursework_wide = current is not None and current.submission_id is None
    try:
        mark = set_mark(session=session, student_id=sub.student_id, coursework_id=sub.coursework_id,
                        item_id=item.id, score=body.score, by_user_id=owner.user.id,
                        expected_version=body.expected_version, submission_id=None if coursework_wide else sub.id,
                        kind=MarkKind.override if item.kind == "auto" else MarkKind.manual, comment=body.comment)
    except StaleMark:
        session.rollback()
        current = mark_in_force(session=session, submission=sub, item_id=item.id)
        users = _usernames(session, [current.updated_by_id] if current else [])
        conflict = MarkConflict(
            detail=f"the mark for {item.id!r} changed since you read it (you sent version {body.expected_version}); "
                   "nothing was saved: check the current mark and save again.",
            current=_mark_read(current, users) if current else None)
        return JSONResponse(conflict.model_dump(mode="json"), status_code=409)
    marks = marks_of_submission(session=session, rubric=rubric, sub=sub)
    return MarkSaved(mark=_mark_read(mark, _usernames(session, [mark.updated_by_id])),
                     counting=_is_counting(session, sub, rubric), total=_total_read(marks.total))


@router.get("/submissions/{submission_id}/marks/{item_id}/history", response_model=list[MarkChangeRead],
            responses=ERRORS)
def get_mark_history(request: Request, submission_id: uuid.UUID, item_id: str, session: SessionDep,
                     owner: MarkingReader) -> list[MarkChangeRead]:
    """Every change to the mark in force for this item, oldest first (empty: never marked)."""
    sub, _, rubric = _desk(request, session, submission_id, owner)
    mark = mark_in_force(session=session, submission=sub, item_id=_item(rubric, item_id).id)
    changes = mark_history(session=session, mark_id=mark.id) if mark else []
    users = _usernames(session, (c.changed_by_id for c in changes))
    return [MarkChangeRead(version=c.version, old_score=c.old_score, new_score=c.new_score, comment=c.comment,
                           changed_by=users.get(c.changed_by_id, "?"), changed_at=c.changed_at) for c in changes]


# --- penalties -----------------------------------------------------------------------------------


@router.put("/submissions/{submission_id}/penalties/{penalty_id}", response_model=PenaltySaved,
            responses={**ERRORS, 409: {"model": PenaltyConflict, "description": STALE}})
def put_penalty(request: Request, submission_id: uuid.UUID, penalty_id: str, body: PenaltyWrite,
                session: SessionDep, owner: CurrentMarker) -> PenaltySaved | JSONResponse:
    """Apply a penalty, or lift one (the run's included). Name the penalty's version you read
    (null: no decision yet); a stale one gets 409 and the penalty as it stands."""
    sub, coursework, rubric = _desk(request, session, submission_id, owner)
    penalty = _penalty(rubric, penalty_id)
    view = identities(session, owner, coursework.id, rubric)
    try:
        decide_penalty(session=session, submission=sub, penalty_id=penalty.id, applied=body.applied,
                       by_user_id=owner.user.id, expected_version=body.expected_version, comment=body.comment)
    except StaleDecision:
        marks = marks_of_submission(session=session, rubric=rubric, sub=sub)
        conflict = PenaltyConflict(
            detail=f"penalty {penalty.id!r} was decided since you read it (you sent version "
                   f"{body.expected_version}); nothing was saved: check it and decide again.",
            current=_penalty_reads(session, rubric, sub, marks, view, only=penalty.id)[0])
        return JSONResponse(conflict.model_dump(mode="json"), status_code=409)
    marks = marks_of_submission(session=session, rubric=rubric, sub=sub)
    return PenaltySaved(penalty=_penalty_reads(session, rubric, sub, marks, view, only=penalty.id)[0],
                        counting=_is_counting(session, sub, rubric), total=_total_read(marks.total))


# --- which submission counts ---------------------------------------------------------------------


def _counting_read(session: Session, sub: Submission, coursework: Coursework, rubric: Rubric,
                   owner: TokenOwner) -> CountingRead:
    counting = counting_submission(session=session, student_id=sub.student_id, coursework_id=sub.coursework_id,
                                   grace_minutes=rubric.late_policy.grace_minutes)
    choice = counting_choice(session=session, student_id=sub.student_id, coursework_id=sub.coursework_id)
    users = _usernames(session, [choice.chosen_by_id if choice else None])
    view = identities(session, owner, coursework.id, rubric)
    return CountingRead(student=_student(view, sub.student_id), coursework=coursework.code,
                        counting_submission_id=counting.id if counting else None,
                        choice=_choice_read(choice, users, view))


@router.post("/submissions/{submission_id}/counting", response_model=CountingRead, responses=ERRORS)
def choose_counting(request: Request, submission_id: uuid.UUID, body: CountingWrite, session: SessionDep,
                    owner: CountingPicker) -> CountingRead:
    """This submission counts for its student's coursework mark, whatever the rubric's rule says."""
    sub, coursework, rubric = _desk(request, session, submission_id, owner)
    choose_counting_submission(session=session, submission_id=sub.id, chosen_by_id=owner.user.id, reason=body.reason)
    return _counting_read(session, sub, coursework, rubric, owner)


@router.delete("/submissions/{submission_id}/counting", response_model=CountingRead, responses=ERRORS)
def clear_counting(request: Request, submission_id: uuid.UUID, session: SessionDep,
                   owner: CountingPicker) -> CountingRead:
    """Drop the lecturer's pick for this submission's student: the rubric's rule decides again."""
    sub, coursework, rubric = _desk(request, session, submission_id, owner)
    clear_counting_choice(session=session, student_id=sub.student_id, coursework_id=sub.coursework_id,
                          cleared_by_id=owner.user.id)
    return _counting_read(session, sub, coursework, rubric, owner)


# --- duplicates ----------------------------------------------------------------------------------


@router.get("/courseworks/{cw}/duplicates", response_model=CourseworkDuplicatesRead, responses=ERRORS)
def list_duplicates(session: SessionDep, coursework: CourseworkDep, owner: MarkingReader) -> CourseworkDuplicatesRead:
    """Every identical-file flag of the coursework, grouped by the file's sha256: who holds it,
    the earliest holder first. For a person to judge: a shared starter file is not a copy."""
    groups = coursework_duplicates(session=session, coursework_id=coursework.row.id)
    view = identities(session, owner, coursework.row.id, coursework.files.rubric)
    return CourseworkDuplicatesRead(coursework=coursework.row.code, groups=[
        DuplicateGroupRead(sha256=sha, submissions=[
            DuplicateHolderRead(submission_id=h.submission.id, student=_student(view, h.submission.student_id),
                                path=view.filename(h.path), received_at=h.submission.received_at, flagged=h.flagged)
            for h in holders])
        for sha, holders in groups.items()])
