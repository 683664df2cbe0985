"""The marker's desk: one submission's marking view, marks and overrides with their history,
penalty decisions, the lecturer's counting pick, and duplicate flags. The JSON API and the
dashboard both call these functions with the signed-in user; neither builds the views itself.

A mark made here is the submission's own (``set_mark`` with ``submission_id``): it judges that
file, so it never drifts onto another upload, and it lives apart from the runs, so an override
survives every regrade. Where the student already has a coursework-wide mark for the item (set
by a script) and the submission none, that mark is the one in force and the one edited, so the
version a marker read is always the version checked. Each write commits once, with its audit event.

Who may do what is decided here from the user's role (``READERS``, ``MARKERS``, ``PICKERS``), so no
caller can reach the desk with a role it does not allow; an API token's scopes narrow it further.
Refusals are ``DeskError``s, which the callers turn into their own responses.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.courseworks.models import Coursework
from grader.marking.anonymity import IdentityView, identity_view, rubric_file_names
from grader.marking.desk_models import (
    ArtifactRead,
    CountingChoiceRead,
    CountingRead,
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
    PartRead,
    PenaltyConflict,
    PenaltySaved,
    RunSummaryRead,
    StudentRef,
    TotalRead,
)
from grader.marking.models import ManualMark, MarkKind, PenaltyDecision
from grader.marking.service import (
    StaleDecision,
    StaleMark,
    decide_penalty,
    decisions_in_force,
    mark_history,
    mark_in_force,
    marks_for_submission,
    penalty_decisions,
    set_mark,
)
from grader.marking.sheet import SubmissionMarks, marks_of_submission
from grader.rubrics.loader import CourseworkFiles
from grader.rubrics.model import Item, Penalty, Rubric
from grader.runs.models import GradingRun, RunArtifact
from grader.scoring.totals import CourseworkTotal
from grader.submissions.models import CountingChoice, Submission
from grader.submissions.references import reference_of
from grader.submissions.service import (
    choose_counting_submission,
    clear_counting_choice,
    counting_choice,
    counting_submission,
    coursework_duplicates,
    duplicates_of,
    graded_files,
)
from grader.users.models import Role, User

READERS = (Role.gta, Role.lecturer)  # read the desk: every item, hidden ones too
MARKERS = (Role.gta, Role.lecturer)  # write marks and penalty decisions
PICKERS = (Role.lecturer,)  # choose which submission counts
# Where a reader fetches a run's artifact: (submission id, run id, artifact name) -> URL.
ArtifactUrl = Callable[[uuid.UUID, int, str], str]


class DeskError(Exception):
    """A refusal; the message is written for the marker."""


class NotOnDesk(DeskError):
    """No such submission, rubric item or penalty (or no rubric loaded for the coursework)."""


class RoleRefused(DeskError):
    """The user's role may not do this."""


class ScoreOutOfRange(DeskError):
    """A score above the item's points."""


class MarkChanged(DeskError):
    """Someone saved the mark since this marker read it: nothing was written."""

    def __init__(self, conflict: MarkConflict):
        super().__init__(conflict.detail)
        self.conflict = conflict


class PenaltyChanged(DeskError):
    """Someone decided the penalty since this marker read it: nothing was written."""

    def __init__(self, conflict: PenaltyConflict):
        super().__init__(conflict.detail)
        self.conflict = conflict


def check_role(user: User, roles: Iterable[Role]) -> None:
    if user.role not in roles:
        raise RoleRefused(f"your role ({user.role.value}) may not do this.")


def artifact_reads(
    submission_id: uuid.UUID, run: GradingRun, artifact_url: ArtifactUrl, artifacts: Iterable[RunArtifact] | None = None
) -> list[ArtifactRead]:
    """``artifacts``: those of the run this reader may see (default: all of them, for staff)."""
    return [
        ArtifactRead(
            name=a.name,
            title=a.title,
            media_type=a.media_type,
            sha256=a.sha256,
            size_bytes=a.size_bytes,
            item_id=a.item_id,
            url=artifact_url(submission_id, run.id, a.name),
        )
        for a in (run.artifacts if artifacts is None else artifacts)
    ]


# --- reading -------------------------------------------------------------------------------------


def _open(
    session: Session,
    courseworks: Mapping[str, CourseworkFiles],
    submission_id: uuid.UUID,
    reader: User,
    roles: Iterable[Role],
) -> tuple[Submission, Coursework, Rubric]:
    check_role(reader, roles)
    sub = session.get(Submission, submission_id)
    if sub is None:
        raise NotOnDesk("no such submission.")
    coursework = session.get_one(Coursework, sub.coursework_id)  # a foreign key: the row is there
    files = courseworks.get(coursework.code)
    if files is None:
        raise NotOnDesk(f"coursework {coursework.code!r} has no rubric loaded.")
    return sub, coursework, files.rubric


def _item(rubric: Rubric, item_id: str) -> Item:
    item = next((i for i in rubric.items if i.id == item_id), None)
    if item is None:
        raise NotOnDesk(f"{rubric.coursework} has no item {item_id!r}.")
    return item


def _penalty(rubric: Rubric, penalty_id: str) -> Penalty:
    penalty = next((p for p in rubric.penalties if p.id == penalty_id), None)
    if penalty is None:
        raise NotOnDesk(f"{rubric.coursework} has no penalty {penalty_id!r}.")
    return penalty


def _usernames(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return {row.id: row.username for row in rows}


def identities(session: Session, reader: User, coursework_id: int, rubric: Rubric) -> IdentityView:
    """How this reader may name the coursework's students (pseudonyms for a GTA under anonymity)."""
    return identity_view(
        session=session, coursework_id=coursework_id, reader_role=reader.role, safe_names=rubric_file_names(rubric)
    )


def _student(view: IdentityView, student_id: int) -> StudentRef:
    shown = view.student(student_id)
    return StudentRef(
        external_id=shown.external_id, name=shown.name, pseudonym=shown.pseudonym, anonymous=shown.anonymous
    )


def _is_counting(session: Session, sub: Submission, rubric: Rubric) -> bool:
    counting = counting_submission(
        session=session,
        student_id=sub.student_id,
        coursework_id=sub.coursework_id,
        grace_minutes=rubric.late_policy.grace_minutes,
    )
    return counting is not None and counting.id == sub.id


def _mark_read(mark: ManualMark, users: dict[int, str]) -> MarkRead:
    return MarkRead(
        item_id=mark.item_id,
        score=mark.score,
        comment=mark.comment,
        kind=mark.kind.value,
        version=mark.version,
        scope="coursework" if mark.submission_id is None else "submission",
        updated_by=users.get(mark.updated_by_id, "?"),
        updated_at=mark.updated_at,
    )


def _submitted_total(marks: SubmissionMarks) -> CourseworkTotal:
    """The total of ``marks_of_submission``'s marks: set there, always (None is for nothing submitted)."""
    assert marks.total is not None
    return marks.total


def _total_read(total: CourseworkTotal) -> TotalRead:
    return TotalRead(
        items_score=total.items_score,
        penalty_points=total.penalty_points,
        before_late=total.before_late,
        late_minutes=total.lateness.minutes,
        late_factor=total.lateness.factor,
        late_label=total.lateness.label,
        total=total.total,
        max_score=total.max_score,
        complete=total.complete,
        notes=list(total.notes),
        parts=[PartRead(id=p.id, title=p.title, score=p.score, max_score=p.max_score) for p in total.parts],
    )


def _penalty_reads(
    session: Session,
    rubric: Rubric,
    sub: Submission,
    marks: SubmissionMarks,
    view: IdentityView,
    only: str | None = None,
) -> list[MarkingPenaltyRead]:
    rows = penalty_decisions(session=session, submission=sub, penalty_id=only)
    users = _usernames(session, (d.decided_by_id for d in rows))
    run_penalties = {p.penalty_id: p for p in (marks.run.penalties if marks.run else [])}
    lines = {p.id: p for p in _submitted_total(marks).penalties}
    in_force = decisions_in_force(rows)
    reads = []
    for penalty in rubric.penalties:
        if only is not None and penalty.id != only:
            continue
        history = [r for r in rows if r.penalty_id == penalty.id]
        versions = {d.id: n for n, d in enumerate(history, start=1)}

        def decision(d: PenaltyDecision, versions: dict[int, int] = versions) -> DecisionRead:
            return DecisionRead(
                applied=d.applied,
                comment=d.comment,
                version=versions[d.id],
                scope="coursework" if d.submission_id is None else "submission",
                decided_by=users.get(d.decided_by_id, "?"),
                decided_at=d.decided_at,
            )

        run_penalty = run_penalties.get(penalty.id)
        current = in_force.get(penalty.id)
        reads.append(
            MarkingPenaltyRead(
                id=penalty.id,
                title=penalty.title,
                points=penalty.points,
                visibility=penalty.visibility.value,
                auto_applied=lines[penalty.id].auto_applied,
                message=_about(view, sub, run_penalty.message) if run_penalty else None,
                applied=lines[penalty.id].applied,
                version=len(history) or None,
                decision=decision(current) if current else None,
                history=[decision(d) for d in history],
            )
        )
    return reads


def _about(view: IdentityView, sub: Submission, text: str | None) -> str | None:
    """A text about the submission, as this reader may see it (``IdentityView.text``)."""
    return view.text(text, sub.student_id, [sub.original_filename])


def _choice_read(choice: CountingChoice | None, users: dict[int, str], view: IdentityView) -> CountingChoiceRead | None:
    if choice is None:
        return None
    return CountingChoiceRead(
        submission_id=choice.submission_id,
        reason=view.text(choice.reason, choice.student_id),
        chosen_by=users.get(choice.chosen_by_id) if choice.chosen_by_id is not None else None,
        chosen_at=choice.chosen_at,
    )


def marking_view(
    *,
    session: Session,
    courseworks: Mapping[str, CourseworkFiles],
    submission_id: uuid.UUID,
    reader: User,
    artifact_url: ArtifactUrl,
) -> MarkingRead:
    """Everything a marker needs for one submission: its run, every item (hidden ones too) with
    the run's score and message and the mark in force, the penalties and their decisions, the
    total, identical-file flags, and the run's artifacts (``artifact_url`` says where each is)."""
    sub, coursework, rubric = _open(session, courseworks, submission_id, reader, READERS)
    view = identities(session, reader, coursework.id, rubric)
    marks = marks_of_submission(session=session, rubric=rubric, sub=sub)
    run = marks.run
    # One read for every item's mark in force (the submission's own over the coursework-wide one).
    found = marks_for_submission(
        session=session, submission_id=sub.id, student_id=sub.student_id, coursework_id=sub.coursework_id
    )
    in_force = {i.id: found.get(i.id) for i in rubric.items}
    choice = counting_choice(session=session, student_id=sub.student_id, coursework_id=sub.coursework_id)
    users = _usernames(
        session, [*(m.updated_by_id for m in in_force.values() if m), choice.chosen_by_id if choice else None]
    )
    run_items = {i.item_id: i for i in (run.items if run else [])}
    lines = {line.id: line for line in _submitted_total(marks).items}
    items = []
    for item in rubric.items:
        run_item, line, mark = run_items.get(item.id), lines[item.id], in_force[item.id]
        items.append(
            MarkingItemRead(
                id=item.id,
                part=item.part,
                title=item.title,
                points=item.points,
                kind=item.kind,
                visibility=item.visibility.value,
                auto_score=run_item.score if run_item else None,
                status=run_item.status if run_item else None,
                message=_about(view, sub, run_item.message) if run_item else None,
                score=line.score,
                source=line.source,
                mark=_mark_read(mark, users) if mark else None,
            )
        )
    duplicates = [
        DuplicateRead(
            path=view.filename(d.path),
            sha256=d.sha256,
            other_submission_id=d.other.id,
            other_student=_student(view, d.other.student_id),
            other_path=view.filename(d.other_path),
            other_is_earlier=d.other_is_earlier,
        )
        for d in duplicates_of(session=session, submission_id=sub.id)
    ]
    return MarkingRead(
        submission_id=sub.id,
        coursework=coursework.code,
        student=_student(view, sub.student_id),
        received_at=sub.received_at,
        late_minutes=sub.late_minutes,
        late=sub.late_minutes > 0,
        counting=_is_counting(session, sub, rubric),
        counting_choice=_choice_read(choice, users, view),
        run=RunSummaryRead(
            id=run.id,
            status=run.status.value,
            score=run.score,
            max_score=run.max_score,
            finished_at=run.finished_at,
            log=_about(view, sub, run.log) or "",
            hidden_digest=run.hidden_digest,
            rubric_digest=run.rubric_digest,
        )
        if run
        else None,
        items=items,
        penalties=_penalty_reads(session, rubric, sub, marks, view),
        total=_total_read(_submitted_total(marks)),
        duplicates=duplicates,
        artifacts=artifact_reads(sub.id, run, artifact_url) if run else [],
        graded_files=[view.filename(p) for p in graded_files(session=session, submission_id=sub.id)],
        ignored_files=[_about(view, sub, p) or "" for p in sub.ignored_files or []],
        **({} if view.hides else reference_of(sub).as_dict()),
    )


# --- marks ---------------------------------------------------------------------------------------


def save_mark(
    *,
    session: Session,
    courseworks: Mapping[str, CourseworkFiles],
    submission_id: uuid.UUID,
    item_id: str,
    marker: User,
    score: float | None,
    comment: str,
    expected_version: int | None,
    public_url: str | None = None,
) -> MarkSaved:
    """Mark a manual or suggested item, or override an auto item (``score`` None clears it). A
    stale ``expected_version`` (None: a first mark) is ``MarkChanged`` with the current mark."""
    sub, _, rubric = _open(session, courseworks, submission_id, marker, MARKERS)
    item = _item(rubric, item_id)
    if score is not None and score > item.points:
        raise ScoreOutOfRange(f"a score for {item.id!r} must be between 0 and {item.points:g}, not {score:g}.")
    current = mark_in_force(session=session, submission=sub, item_id=item.id)
    coursework_wide = current is not None and current.submission_id is None
    try:
        mark = set_mark(
            session=session,
            student_id=sub.student_id,
            coursework_id=sub.coursework_id,
            item_id=item.id,
            score=score,
            by_user_id=marker.id,
            expected_version=expected_version,
            submission_id=None if coursework_wide else sub.id,
            kind=MarkKind.override if item.kind == "auto" else MarkKind.manual,
            comment=comment,
            public_url=public_url,
        )
    except StaleMark:
        session.rollback()
        current = mark_in_force(session=session, submission=sub, item_id=item.id)
        users = _usernames(session, [current.updated_by_id] if current else [])
        raise MarkChanged(
            MarkConflict(
                detail=f"the mark for {item.id!r} changed since you read it (you sent version {expected_version}); "
                "nothing was saved: check the current mark and save again.",
                current=_mark_read(current, users) if current else None,
            )
        ) from None
    marks = marks_of_submission(session=session, rubric=rubric, sub=sub)
    return MarkSaved(
        mark=_mark_read(mark, _usernames(session, [mark.updated_by_id])),
        counting=_is_counting(session, sub, rubric),
        total=_total_read(_submitted_total(marks)),
    )


def mark_changes(
    *,
    session: Session,
    courseworks: Mapping[str, CourseworkFiles],
    submission_id: uuid.UUID,
    item_id: str,
    reader: User,
) -> list[MarkChangeRead]:
    """Every change to the mark in force for this item, oldest first (empty: never marked)."""
    sub, _, rubric = _open(session, courseworks, submission_id, reader, READERS)
    mark = mark_in_force(session=session, submission=sub, item_id=_item(rubric, item_id).id)
    changes = mark_history(session=session, mark_id=mark.id) if mark else []
    users = _usernames(session, (c.changed_by_id for c in changes))
    return [
        MarkChangeRead(
            version=c.version,
            old_score=c.old_score,
            new_score=c.new_score,
            comment=c.comment,
            changed_by=users.get(c.changed_by_id, "?"),
            changed_at=c.changed_at,
        )
        for c in changes
    ]


# --- penalties -----------------------------------------------------------------------------------


def save_penalty(
    *,
    session: Session,
    courseworks: Mapping[str, CourseworkFiles],
    submission_id: uuid.UUID,
    penalty_id: str,
    marker: User,
    applied: bool,
    comment: str,
    expected_version: int | None,
    public_url: str | None = None,
) -> PenaltySaved:
    """Apply a penalty, or lift one (the run's included). A stale ``expected_version`` (None: no
    decision yet) is ``PenaltyChanged`` with the penalty as it stands."""
    sub, coursework, rubric = _open(session, courseworks, submission_id, marker, MARKERS)
    penalty = _penalty(rubric, penalty_id)
    view = identities(session, marker, coursework.id, rubric)
    try:
        decide_penalty(
            session=session,
            submission=sub,
            penalty_id=penalty.id,
            applied=applied,
            by_user_id=marker.id,
            expected_version=expected_version,
            comment=comment,
            public_url=public_url,
        )
    except StaleDecision:
        marks = marks_of_submission(session=session, rubric=rubric, sub=sub)
        raise PenaltyChanged(
            PenaltyConflict(
                detail=f"penalty {penalty.id!r} was decided since you read it (you sent version "
                f"{expected_version}); nothing was saved: check it and decide again.",
                current=_penalty_reads(session, rubric, sub, marks, view, only=penalty.id)[0],
            )
        ) from None
    marks = marks_of_submission(session=session, rubric=rubric, sub=sub)
    return PenaltySaved(
        penalty=_penalty_reads(session, rubric, sub, marks, view, only=penalty.id)[0],
        counting=_is_counting(session, sub, rubric),
        total=_total_read(_submitted_total(marks)),
    )


# --- which submission counts ---------------------------------------------------------------------


def _counting_read(
    session: Session, sub: Submission, coursework: Coursework, rubric: Rubric, reader: User
) -> CountingRead:
    counting = counting_submission(
        session=session,
        student_id=sub.student_id,
        coursework_id=sub.coursework_id,
        grace_minutes=rubric.late_policy.grace_minutes,
    )
    choice = counting_choice(session=session, student_id=sub.student_id, coursework_id=sub.coursework_id)
    users = _usernames(session, [choice.chosen_by_id if choice else None])
    view = identities(session, reader, coursework.id, rubric)
    return CountingRead(
        student=_student(view, sub.student_id),
        coursework=coursework.code,
        counting_submission_id=counting.id if counting else None,
        choice=_choice_read(choice, users, view),
    )


def choose_counting(
    *,
    session: Session,
    courseworks: Mapping[str, CourseworkFiles],
    submission_id: uuid.UUID,
    lecturer: User,
    reason: str,
) -> CountingRead:
    """This submission counts for its student's coursework mark, whatever the rubric's rule says."""
    sub, coursework, rubric = _open(session, courseworks, submission_id, lecturer, PICKERS)
    choose_counting_submission(session=session, submission_id=sub.id, chosen_by_id=lecturer.id, reason=reason)
    return _counting_read(session, sub, coursework, rubric, lecturer)


def clear_counting(
    *, session: Session, courseworks: Mapping[str, CourseworkFiles], submission_id: uuid.UUID, lecturer: User
) -> CountingRead:
    """Drop the lecturer's pick for this submission's student: the rubric's rule decides again."""
    sub, coursework, rubric = _open(session, courseworks, submission_id, lecturer, PICKERS)
    clear_counting_choice(
        session=session, student_id=sub.student_id, coursework_id=sub.coursework_id, cleared_by_id=lecturer.id
    )
    return _counting_read(session, sub, coursework, rubric, lecturer)


# --- duplicates ----------------------------------------------------------------------------------


def duplicates(*, session: Session, coursework: Coursework, rubric: Rubric, reader: User) -> CourseworkDuplicatesRead:
    """Every identical-file flag of the coursework, grouped by the file's sha256: who holds it,
    the earliest holder first. For a person to judge: a shared starter file is not a copy."""
    check_role(reader, READERS)
    groups = coursework_duplicates(session=session, coursework_id=coursework.id)
    view = identities(session, reader, coursework.id, rubric)
    return CourseworkDuplicatesRead(
        coursework=coursework.code,
        groups=[
            DuplicateGroupRead(
                sha256=sha,
                submissions=[
                    DuplicateHolderRead(
                        submission_id=h.submission.id,
                        student=_student(view, h.submission.student_id),
                        path=view.filename(h.path),
                        received_at=h.submission.received_at,
                        flagged=h.flagged,
                    )
                    for h in holders
                ],
            )
            for sha, holders in groups.items()
        ],
    )
