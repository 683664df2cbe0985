"""The claim order, and each queued run's place in it.

The rule (round-robin by student, in SQL in the claim itself):

1. ``priority`` first (lower first): a lecturer's raised run (``RAISED``) and pre-checks before
   ordinary full runs, and those before the full runs of unassessed courseworks (``TUTORIAL``:
   practice waits behind assessed work, always, not only near a deadline); on a tie, pre-checks first.
2. Then the student's *load*: how many runs of theirs on these queues were claimed within the last
   ``FAIR_WINDOW_S``, plus how many of theirs wait ahead of this one. A student's k-th waiting run
   is served in round load + k, so one who submits ten times gets one run per round, like everyone
   else, and one who was served a lot lately waits behind those who were not. Tutorial runs count
   towards the load of tutorial runs only: practising never costs a student their place for
   assessed work.
3. Then the oldest first (``enqueued_at``, then id).

``claim_order`` builds it for the claim query (Postgres and SQLite alike; the caller adds
``FOR UPDATE SKIP LOCKED``); ``order_queued`` is the same rule in Python, for positions and ETAs
(tests hold the two to the same answers).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.submissions.models import Submission

FAIR_WINDOW_S = 3600  # "recently": the last hour (a deadline rush)
NORMAL = {RunKind.precheck: 0, RunKind.full: 1}  # priorities as enqueued
RAISED = 0  # a lecturer's "grade this first": ahead of every ordinary full run
TUTORIAL = 2  # a full run of an unassessed coursework (weight 0): behind every assessed full run


def full_run_priority(*, unassessed: bool) -> int:
    """The priority a full run is enqueued with. Tutorials always wait behind assessed work: a rule
    that does not depend on how near a deadline is cannot starve an assessed run at the wrong hour,
    and outside a rush the queue is short enough that practice runs wait seconds."""
    return TUTORIAL if unassessed else NORMAL[RunKind.full]


def claim_candidates(
    queues: Collection[str], now: dt.datetime, window_s: float = FAIR_WINDOW_S, *, round_robin: bool = True
) -> tuple[Select[int], type[GradingRun]]:
    """``SELECT id`` of queued runs on ``queues`` in claim order, and the alias of the run it selects
    (the caller limits, and locks that alias alone: ``FOR UPDATE OF``). ``round_robin`` False leaves
    step 2 out: first in, first out after the priority."""
    run, sub = aliased(GradingRun, name="cand"), aliased(Submission, name="cand_sub")
    other, other_sub = aliased(GradingRun, name="other"), aliased(Submission, name="other_sub")
    since = now - dt.timedelta(seconds=window_s)
    waiting_ahead = and_(
        other.status == RunStatus.queued,
        or_(other.enqueued_at < run.enqueued_at, and_(other.enqueued_at == run.enqueued_at, other.id < run.id)),
    )
    served_lately = and_(other.status != RunStatus.queued, other.started_at >= since)
    counted = or_(run.priority == TUTORIAL, other.priority != TUTORIAL)  # practice weighs on practice only
    load = (
        select(func.count())
        .select_from(other)
        .join(other_sub, other_sub.id == other.submission_id)
        .where(
            other_sub.student_id == sub.student_id,
            other.queue.in_(list(queues)),
            other.id != run.id,
            counted,
            or_(waiting_ahead, served_lately),
        )
        .correlate(run, sub)
        .scalar_subquery()
    )
    candidates: Select[int] = (
        select(run.id)
        .join(sub, sub.id == run.submission_id)
        .where(run.status == RunStatus.queued, run.queue.in_(list(queues)))
        .order_by(
            run.priority,
            case((run.kind == RunKind.precheck, 0), else_=1),
            *([load] if round_robin else []),
            run.enqueued_at,
            run.id,
        )
    )
    return candidates, run


@dataclass(frozen=True)
class Queued:
    """A queued run as the order sees it."""

    id: int
    student_id: int
    priority: int
    kind: RunKind
    enqueued_at: dt.datetime


def order_queued(
    runs: Sequence[Queued], served_lately: Mapping[int, int], practice_served: Mapping[int, int] | None = None
) -> list[Queued]:
    """``runs`` (queued, on one set of queues) in claim order; ``served_lately``: student id -> runs
    of theirs claimed within the window, tutorial runs (``TUTORIAL``) apart in ``practice_served``.
    The module docstring's rule, as pure Python."""
    practice_served = practice_served or {}
    waiting: dict[int, int] = {}  # runs of the student waiting ahead, tutorial runs aside
    practising: dict[int, int] = {}  # their tutorial runs waiting ahead
    keyed = []
    for r in sorted(runs, key=lambda r: (r.enqueued_at, r.id)):
        s = r.student_id
        load = served_lately.get(s, 0) + waiting.get(s, 0)
        if r.priority == TUTORIAL:
            load += practice_served.get(s, 0) + practising.get(s, 0)
            practising[s] = practising.get(s, 0) + 1
        else:
            waiting[s] = waiting.get(s, 0) + 1
        keyed.append(((r.priority, 0 if r.kind is RunKind.precheck else 1, load, r.enqueued_at, r.id), r))
    return [r for _, r in sorted(keyed, key=lambda kr: kr[0])]


def queued_in_order(*, session: Session, queue: str, now: dt.datetime, window_s: float = FAIR_WINDOW_S) -> list[Queued]:
    """Every queued run of ``queue``, in the order workers will claim them."""
    rows = session.execute(
        select(GradingRun.id, Submission.student_id, GradingRun.priority, GradingRun.kind, GradingRun.enqueued_at)
        .join(Submission, Submission.id == GradingRun.submission_id)
        .where(GradingRun.status == RunStatus.queued, GradingRun.queue == queue)
    ).all()
    runs = [Queued(r.id, r.student_id, r.priority, RunKind(r.kind), r.enqueued_at) for r in rows]
    since = now - dt.timedelta(seconds=window_s)
    served: dict[int, int] = {}
    practice: dict[int, int] = {}
    for student_id, priority, count in session.execute(
        select(Submission.student_id, GradingRun.priority, func.count())
        .join(GradingRun, GradingRun.submission_id == Submission.id)
        .where(GradingRun.queue == queue, GradingRun.status != RunStatus.queued, GradingRun.started_at >= since)
        .group_by(Submission.student_id, GradingRun.priority)
    ).all():
        counts = practice if priority == TUTORIAL else served
        counts[student_id] = counts.get(student_id, 0) + count
    return order_queued(runs, served, practice)
