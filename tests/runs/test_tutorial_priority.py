"""Tutorial runs (unassessed courseworks) wait behind assessed work: always, not only near a deadline.
The pure order here; the claim itself on Postgres in tests/api/test_tutorials.py."""

import datetime as dt

from grader.runs.fair_queue import NORMAL, RAISED, TUTORIAL, Queued, full_run_priority, order_queued
from grader.runs.models import RunKind

T0 = dt.datetime(2026, 2, 13, 18, 0, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_a_tutorial_full_run_gets_the_lowest_priority():
    assert full_run_priority(unassessed=True) == TUTORIAL
    assert full_run_priority(unassessed=False) == NORMAL[RunKind.full]
    assert TUTORIAL > NORMAL[RunKind.full] > RAISED


def test_tutorial_runs_are_claimed_after_every_assessed_run_however_old_they_are():
    runs = [
        Queued(1, student_id=10, priority=TUTORIAL, kind=RunKind.full, enqueued_at=at(0)),  # oldest, idle student
        Queued(2, student_id=11, priority=NORMAL[RunKind.full], kind=RunKind.full, enqueued_at=at(5)),
        Queued(3, student_id=12, priority=NORMAL[RunKind.precheck], kind=RunKind.precheck, enqueued_at=at(6)),
        Queued(4, student_id=11, priority=NORMAL[RunKind.full], kind=RunKind.full, enqueued_at=at(7)),
        Queued(5, student_id=13, priority=TUTORIAL, kind=RunKind.full, enqueued_at=at(1)),
    ]
    # Student 11 was served a lot lately: still ahead of every tutorial run.
    order = [r.id for r in order_queued(runs, served_lately={11: 5})]
    assert order == [3, 2, 4, 1, 5]


def test_a_lecturer_can_still_raise_a_tutorial_run():
    runs = [
        Queued(1, student_id=10, priority=NORMAL[RunKind.full], kind=RunKind.full, enqueued_at=at(0)),
        Queued(2, student_id=11, priority=RAISED, kind=RunKind.full, enqueued_at=at(9)),  # was TUTORIAL
    ]
    assert [r.id for r in order_queued(runs, served_lately={})] == [2, 1]
