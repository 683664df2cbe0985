"""The GTA's coursework overview: every enrolled student's counting submission with its grading
status, auto score, manual progress, lateness and total, read for a whole coursework at once.

A handful of set queries (roster, submissions, picks, extensions, runs, item scores, penalties,
marks, decisions), then per student the same rules the marker's desk uses: ``rule_counting`` for
the counting submission and ``coursework_total`` for the total. ``filter_rows``, ``sort_rows`` and
``histogram`` are pure.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from grader.courseworks.extensions import waived_students
from grader.courseworks.models import Coursework, DeadlineExtension
from grader.marking.models import ManualMark, PenaltyDecision
from grader.roster.models import Student
from grader.rubrics.model import Rubric
from grader.runs.models import NOT_STAGED, GradingRun, RunItemScore, RunKind, RunPenalty, RunStatus
from grader.scoring.lateness import Lateness, policy_lateness
from grader.scoring.totals import CourseworkTotal, coursework_total
from grader.submissions.models import CountingChoice, Submission
from grader.submissions.service import rule_counting

STATUSES = ("no_submission", "queued", "running", "graded", "error")
SORT_KEYS = ("student", "status", "auto", "progress", "late", "total", "received")


@dataclass(frozen=True)
class OverviewRow:
    student_id: int
    external_id: str
    name: str
    status: str  # no_submission | queued | running | graded | error (the latest full run's)
    submission_id: uuid.UUID | None
    received_at: dt.datetime | None
    late_minutes: int
    auto_score: float | None  # the latest graded run's auto score (auto items less penalties)
    marked: int  # manual and suggested items with a marker's score
    to_mark: int  # manual and suggested items in the rubric
    total: float | None  # None: nothing graded yet
    max_score: float
    complete: bool
    item_scores: dict[str, float] = field(default_factory=dict)  # what counts per item (graded only)
    late_label: str = "on time"  # the late column: "late, capped at 50%", "late, penalty waived" ...
    penalty_waived: bool = False  # late, with mitigating circumstances recorded
    # The whole total (items with their source, penalties, lateness) for the exports; not compared.
    detail: CourseworkTotal | None = field(default=None, compare=False, repr=False)

    @property
    def late(self) -> bool:
        return self.late_minutes > 0

    @property
    def needs_marking(self) -> bool:
        return self.submission_id is not None and self.marked < self.to_mark


def coursework_overview(
    *, session: Session, rubric: Rubric, coursework: Coursework, student_ids: Collection[int] | None = None
) -> list[OverviewRow]:
    """One row per enrolled student, roster order (non-submitters included); only those of
    ``student_ids`` when given (``overview_rows`` refreshes the changed ones)."""
    cw_id = coursework.id

    def only(column: InstrumentedAttribute[int]) -> ColumnElement[bool]:
        return column.in_(student_ids) if student_ids is not None else true()

    students = session.execute(
        select(Student.id, Student.external_id, Student.name)
        .where(Student.withdrawn_at.is_(None), only(Student.id))
        .order_by(Student.enrolled_at, Student.id)
    ).all()
    subs: dict[int, list[Submission]] = defaultdict(list)
    for submission in session.scalars(
        select(Submission).where(Submission.coursework_id == cw_id, only(Submission.student_id))
    ):
        subs[submission.student_id].append(submission)
    picks = dict(
        session.execute(
            select(CountingChoice.student_id, CountingChoice.submission_id).where(
                CountingChoice.coursework_id == cw_id, only(CountingChoice.student_id)
            )
        ).all()
    )
    extensions = dict(
        session.execute(
            select(DeadlineExtension.student_id, DeadlineExtension.deadline).where(
                DeadlineExtension.coursework_id == cw_id, only(DeadlineExtension.student_id)
            )
        ).all()
    )
    waived = waived_students(session=session, coursework_id=cw_id)
    grace = rubric.late_policy.grace_minutes
    counting: dict[int, Submission] = {}
    for student_id, own in subs.items():
        by_id = {s.id: s for s in own}
        pick = picks.get(student_id)
        chosen = by_id.get(pick) if pick is not None else None
        if chosen is None:
            deadline = coursework.deadline
            if deadline is not None and student_id in extensions:
                deadline = max(deadline, extensions[student_id])  # as effective_deadline has it
            chosen = rule_counting(own, deadline, grace)
            assert chosen is not None  # ``own`` is never empty: None is for no submissions
        counting[student_id] = chosen

    runs = _runs(session, [s.id for s in counting.values()])
    graded_ids = [r.graded_id for r in runs.values() if r.graded_id is not None]
    auto_scores, auto_penalties = _run_results(session, graded_ids)
    marks = _marks(session, cw_id, only)
    decisions = _decisions(session, cw_id, only)

    item_ids = {i.id for i in rubric.items}
    penalty_ids = {p.id for p in rubric.penalties}
    to_mark_ids = [i.id for i in rubric.items if i.kind != "auto"]
    rows = []
    for student_id, external_id, name in students:
        sub = counting.get(student_id)
        if sub is None:
            rows.append(
                OverviewRow(
                    student_id,
                    external_id,
                    name,
                    "no_submission",
                    None,
                    None,
                    0,
                    None,
                    0,
                    len(to_mark_ids),
                    None,
                    rubric.total_points,
                    False,
                )
            )
            continue
        run = runs.get(sub.id)
        marker = {k: v for k, v in _in_force(marks, student_id, sub.id).items() if k in item_ids and v is not None}
        decided = {k: v for k, v in _in_force(decisions, student_id, sub.id).items() if k in penalty_ids}
        graded_id = run.graded_id if run else None
        total = None
        if graded_id is not None:
            auto = {k: v for k, v in auto_scores.get(graded_id, {}).items() if k in item_ids}
            applied = {p for p in auto_penalties.get(graded_id, set()) if p in penalty_ids}
            total = coursework_total(
                rubric, auto, marker, applied, decided, _lateness(rubric, coursework, sub, extensions, waived)
            )
        rows.append(
            OverviewRow(
                student_id,
                external_id,
                name,
                run.status if run else "queued",
                sub.id,
                sub.received_at,
                sub.late_minutes,
                run.graded_score if run else None,
                sum(1 for i in to_mark_ids if i in marker),
                len(to_mark_ids),
                total.total if total else None,
                rubric.total_points,
                total.complete if total else False,
                {i.id: i.score for i in total.items} if total else {},
                total.lateness.label if total else ("late" if sub.late_minutes > 0 else "on time"),
                sub.late_minutes > 0 and student_id in waived,
                total,
            )
        )
    return rows


def _lateness(
    rubric: Rubric, coursework: Coursework, sub: Submission, extensions: dict[int, dt.datetime], waived: set[int]
) -> Lateness:
    """``lateness_of`` for a whole coursework's rows: the extensions and waivers read once."""
    deadline = coursework.deadline
    if deadline is not None and sub.student_id in extensions:
        deadline = max(deadline, extensions[sub.student_id])  # as effective_deadline has it
    return policy_lateness(
        rubric.late_policy,
        minutes=sub.late_minutes,
        received=sub.receipt_time,
        deadline=deadline,
        tz=rubric.timezone,
        penalty_waived=sub.late_minutes > 0 and sub.student_id in waived,
    )


@dataclass
class _RunState:
    status: str  # the latest full run's
    graded_id: int | None = None  # the latest graded run (its results stand)
    graded_score: float | None = None
    graded_at: dt.datetime | None = None


def _runs(session: Session, submission_ids: list[uuid.UUID]) -> dict[uuid.UUID, _RunState]:
    if not submission_ids:
        return {}
    state: dict[uuid.UUID, _RunState] = {}
    rows = session.execute(
        select(GradingRun.id, GradingRun.submission_id, GradingRun.status, GradingRun.score, GradingRun.finished_at)
        .where(GradingRun.submission_id.in_(submission_ids), GradingRun.kind == RunKind.full, NOT_STAGED)
        .order_by(GradingRun.id)
    )
    for run_id, sub_id, status, score, finished in rows:
        current = state.setdefault(sub_id, _RunState(status.value))
        if status is not RunStatus.cancelled:
            current.status = status.value  # ids ascend: the last one seen is the latest
        if status is RunStatus.graded and (
            current.graded_at is None or (finished, run_id) >= (current.graded_at, current.graded_id)
        ):
            current.graded_id, current.graded_score, current.graded_at = run_id, score, finished
    return state


def _run_results(session: Session, run_ids: list[int]) -> tuple[dict[int, dict[str, float]], dict[int, set[str]]]:
    scores: dict[int, dict[str, float]] = defaultdict(dict)
    penalties: dict[int, set[str]] = defaultdict(set)
    if run_ids:
        for run_id, item_id, score in session.execute(
            select(RunItemScore.run_id, RunItemScore.item_id, RunItemScore.score).where(
                RunItemScore.run_id.in_(run_ids), RunItemScore.kind == "auto"
            )
        ):
            scores[run_id][item_id] = score
        for run_id, penalty_id in session.execute(
            select(RunPenalty.run_id, RunPenalty.penalty_id).where(
                RunPenalty.run_id.in_(run_ids), RunPenalty.applied.is_(True)
            )
        ):
            penalties[run_id].add(penalty_id)
    return scores, penalties


# (student, submission or None for coursework-wide) -> id -> value
_Scoped = dict[tuple[int, uuid.UUID | None], dict]
_Only = Callable[[InstrumentedAttribute[int]], ColumnElement[bool]]  # the students asked for, as a WHERE clause


def _marks(session: Session, cw_id: int, only: _Only) -> _Scoped:
    out: _Scoped = defaultdict(dict)
    for student_id, sub_id, item_id, score in session.execute(
        select(ManualMark.student_id, ManualMark.submission_id, ManualMark.item_id, ManualMark.score).where(
            ManualMark.coursework_id == cw_id, only(ManualMark.student_id)
        )
    ):
        out[(student_id, sub_id)][item_id] = score
    return out


def _decisions(session: Session, cw_id: int, only: _Only) -> _Scoped:
    out: _Scoped = defaultdict(dict)
    for student_id, sub_id, penalty_id, applied in session.execute(
        select(
            PenaltyDecision.student_id,
            PenaltyDecision.submission_id,
            PenaltyDecision.penalty_id,
            PenaltyDecision.applied,
        )
        .where(PenaltyDecision.coursework_id == cw_id, only(PenaltyDecision.student_id))
        .order_by(PenaltyDecision.id)
    ):
        out[(student_id, sub_id)][penalty_id] = applied  # latest wins
    return out


def _in_force(scoped: _Scoped, student_id: int, sub_id: uuid.UUID) -> dict:
    """The submission's own values over the student's coursework-wide ones (as the desk reads them)."""
    return {**scoped.get((student_id, None), {}), **scoped.get((student_id, sub_id), {})}


# -- pure: what the page asks of the rows ---------------------------------------------------------


def filter_rows(
    rows: list[OverviewRow], *, status: str = "", search: str = "", unmarked: bool = False, late: bool = False
) -> list[OverviewRow]:
    needle = search.strip().casefold()
    return [
        r
        for r in rows
        if (not status or r.status == status)
        and (not needle or needle in r.name.casefold() or needle in r.external_id.casefold())
        and (not unmarked or r.needs_marking)
        and (not late or r.late)
    ]


def sort_rows(rows: list[OverviewRow], key: str = "student", descending: bool = False) -> list[OverviewRow]:
    """Sorted by ``key`` (one of SORT_KEYS); rows without a value go last either way."""

    def value(r: OverviewRow) -> object:
        return {
            "student": r.name.casefold(),
            "status": STATUSES.index(r.status) if r.status in STATUSES else 99,
            "auto": r.auto_score,
            "progress": (r.marked / r.to_mark) if r.to_mark else None,
            "late": r.late_minutes if r.submission_id else None,
            "total": r.total,
            "received": r.received_at,
        }[key]

    present = [r for r in rows if value(r) is not None]
    missing = [r for r in rows if value(r) is None]
    return sorted(present, key=lambda r: (value(r), r.external_id), reverse=descending) + missing


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int


def histogram(values: list[float], maximum: float, bins: int = 10) -> list[Bin]:
    """Counts of ``values`` in ``bins`` equal bins over [0, maximum]; the top bin includes maximum."""
    width = maximum / bins if maximum > 0 else 1.0
    counts = [0] * bins
    for v in values:
        counts[min(max(int(v / width), 0), bins - 1)] += 1
    return [Bin(round(n * width, 4), round((n + 1) * width, 4), c) for n, c in enumerate(counts)]
