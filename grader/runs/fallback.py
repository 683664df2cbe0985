"""A rubric's fallback queue: a run that waited ``fallback_after`` on a queue no live worker serves
moves to the rubric's ``fallback_queue`` (a GPU coursework graded on CPU rather than never).

The sweeper asks ``stranded_courseworks`` which courseworks have such runs, reads their rubrics
(``FallbackRule``) and calls ``fall_back``, then sends a wake-up on the new queue for each run moved.
A run moves only while its queue has no live worker and the fallback queue has one: moving it to a
queue nobody serves either would only lose it its GPU. Each move is one guarded UPDATE (the run still
queued on the old queue), audited (``run.fallback``) and kept on the run (``fallback_from``,
``fell_back_at``) for the student's status and the marker's note.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.db.clock import db_now
from grader.db.dml import rowcount
from grader.rubrics.model import Resources, Rubric
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.runs.registry import LIVE_FOR_S, live_workers, slots_by_queue
from grader.runs.waits import WORKER_NAMES
from grader.submissions.models import Submission


@dataclass(frozen=True)
class FallbackRule:
    """One coursework's rubric: its runs wait on ``queue``, then move to ``fallback_queue``."""

    coursework_id: int
    queue: str
    fallback_queue: str
    after_s: float


@dataclass(frozen=True)
class FellBack:
    run_id: int
    submission_id: uuid.UUID
    from_queue: str
    to_queue: str
    waited_s: float


def may_fall_back(rule: FallbackRule, slots: Mapping[str, int]) -> bool:
    """The rule applies now: nobody serves its queue and somebody serves its fallback queue."""
    return slots.get(rule.queue, 0) == 0 and slots.get(rule.fallback_queue, 0) > 0


def stranded_courseworks(
    *, session: Session, live_for_s: float = LIVE_FOR_S, now: dt.datetime | None = None
) -> dict[int, set[str]]:
    """coursework id -> the queues on which its full runs wait with no live worker (cheap: the
    sweeper reads rubrics only for these)."""
    now = now or db_now(session)
    slots = slots_by_queue(live_workers(session=session, live_for_s=live_for_s, now=now))
    rows = session.execute(
        select(Submission.coursework_id, GradingRun.queue)
        .join(Submission, Submission.id == GradingRun.submission_id)
        .where(GradingRun.status == RunStatus.queued, GradingRun.kind == RunKind.full)
        .distinct()
    ).all()
    found: dict[int, set[str]] = {}
    for coursework_id, queue in rows:
        if slots.get(queue, 0) == 0:
            found.setdefault(coursework_id, set()).add(queue)
    return found


def fall_back(
    *,
    session: Session,
    rules: Iterable[FallbackRule],
    live_for_s: float = LIVE_FOR_S,
    now: dt.datetime | None = None,
) -> list[FellBack]:
    """Move every run due under ``rules`` to its fallback queue; commits. Returns the runs moved
    (wake a worker of the new queue for each)."""
    now = now or db_now(session)
    slots = slots_by_queue(live_workers(session=session, live_for_s=live_for_s, now=now))
    moved: list[FellBack] = []
    for rule in rules:
        if not may_fall_back(rule, slots):
            continue
        due = session.execute(
            select(GradingRun.id, GradingRun.submission_id, GradingRun.enqueued_at)
            .join(Submission, Submission.id == GradingRun.submission_id)
            .where(
                Submission.coursework_id == rule.coursework_id,
                GradingRun.kind == RunKind.full,
                GradingRun.status == RunStatus.queued,
                GradingRun.queue == rule.queue,
                GradingRun.enqueued_at <= now - dt.timedelta(seconds=rule.after_s),
            )
            .order_by(GradingRun.enqueued_at, GradingRun.id)
        ).all()
        for run_id, submission_id, enqueued_at in due:
            result = session.execute(
                update(GradingRun)
                # Claimed, superseded or moved meanwhile: it no longer waits there, leave it.
                .where(GradingRun.id == run_id, GradingRun.status == RunStatus.queued, GradingRun.queue == rule.queue)
                .values(queue=rule.fallback_queue, fallback_from=rule.queue, fell_back_at=now)
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) != 1:
                continue
            waited_s = (now - enqueued_at).total_seconds()
            record_event(
                session=session,
                actor_id=None,  # the sweeper, under the rubric's rule
                action="run.fallback",
                subject_type="submission",
                subject_id=submission_id,
                at=now,
                details={
                    "run_id": run_id,
                    "from_queue": rule.queue,
                    "to_queue": rule.fallback_queue,
                    "waited_s": round(waited_s, 1),
                    "fallback_after_s": rule.after_s,
                },
            )
            moved.append(FellBack(run_id, submission_id, rule.queue, rule.fallback_queue, waited_s))
    session.commit()
    return moved


def fallback_note(run: GradingRun) -> str | None:
    """The note to markers (and the student) on a run that fell back; None for any other run."""
    if run.fallback_from is None:
        return None
    gone, now_on = WORKER_NAMES.get(run.fallback_from, run.fallback_from), WORKER_NAMES.get(run.queue, run.queue)
    note = f"no {gone} worker was available, so this run moved to the {now_on} workers"
    if run.fallback_from == "gpu" and run.queue != "gpu":
        note += " and is graded without a GPU, under the CPU limits"
    return note


def rubric_on_queue(rubric: Rubric, queue: str) -> Rubric:
    """The rubric a run graded on ``queue`` uses: its own where the queue is the rubric's; after a
    fall back from the GPU, a CPU job: no GPU, and the CPU worker's own limits (the rubric's memory,
    time and timeouts were sized for the GPU). What is graded and how (mode, items, seed) stays."""
    res = rubric.resources
    if queue == res.queue or queue == "gpu":
        return rubric
    cpu = Resources(queue="cpu", gpu=False, reproducible=res.reproducible, seed=res.seed)
    return rubric.model_copy(update={"resources": cpu})
