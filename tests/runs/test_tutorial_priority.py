"""Tutorial runs (unassessed courseworks) wait behind assessed work: always, not only near a deadline.
The pure order here; the claim itself on Postgres in tests/api/test_tutorials.py."""

import datetime as dt
import random

from gradebook_factory import add_coursework, add_student, submit
from sqlalchemy.orm import Session

from grader.runs.fair_queue import (
    NORMAL,
    RAISED,
    TUTORIAL,
    Queued,
    full_run_priority,
    order_queued,
    queued_in_order,
)
from grader.runs.models import RunKind
from grader.runs.service import claim_next_run, enqueue_run, get_run

T0 = dt.datetime(2026, 2, 13, 18, 0, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


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


def test_practice_weighs_on_practice_only():
    runs = [
        Queued(1, student_id=10, priority=NORMAL[RunKind.full], kind=RunKind.full, enqueued_at=at(0)),
        Queued(2, student_id=11, priority=NORMAL[RunKind.full], kind=RunKind.full, enqueued_at=at(1)),
        Queued(3, student_id=10, priority=TUTORIAL, kind=RunKind.full, enqueued_at=at(2)),
        Queued(4, student_id=11, priority=TUTORIAL, kind=RunKind.full, enqueued_at=at(3)),
    ]
    # 10 practised a lot lately: that costs 10 nothing for assessed work, but their next practice run
    # goes after 11's.
    order = [r.id for r in order_queued(runs, served_lately={}, practice_served={10: 4})]
    assert order == [1, 2, 4, 3]


def test_a_lecturer_can_still_raise_a_tutorial_run():
    runs = [
        Queued(1, student_id=10, priority=NORMAL[RunKind.full], kind=RunKind.full, enqueued_at=at(0)),
        Queued(2, student_id=11, priority=RAISED, kind=RunKind.full, enqueued_at=at(9)),  # was TUTORIAL
    ]
    assert [r.id for r in order_queued(runs, served_lately={})] == [2, 1]


# On Postgres: the claim (SQL) and the order shown (Python) agree, tutorial runs included.


def queue_run(session: Session, student, cw, at: dt.datetime) -> int:
    sub = submit(session, student, cw, at)
    return enqueue_run(session=session, submission_id=sub.id, queue="cpu", now=at).id


def tutorial_coursework(session: Session):
    cw = add_coursework(session, deadline=None)
    cw.weight = 0
    session.flush()
    return cw


def test_enqueued_tutorial_runs_take_the_tutorial_priority(session):
    tut, cw = tutorial_coursework(session), add_coursework(session)
    student = add_student(session)
    assert get_run(session=session, run_id=queue_run(session, student, tut, T0)).priority == TUTORIAL
    assert get_run(session=session, run_id=queue_run(session, student, cw, T0)).priority == NORMAL[RunKind.full]


def test_practising_costs_no_place_for_assessed_work(session):
    tut, cw = tutorial_coursework(session), add_coursework(session)
    keen, other = add_student(session), add_student(session)
    for i in range(5):  # keen practised five times in the last hour; all five were graded
        queue_run(session, keen, tut, T0 + i * S)
    assert len(drain(session, T0 + 10 * S)) == 5
    keen_run = queue_run(session, keen, cw, T0 + 20 * S)
    other_run = queue_run(session, other, cw, T0 + 21 * S)
    # Both have no assessed load: the older goes first, as if keen had never practised.
    assert [q.id for q in queued_in_order(session=session, queue="cpu", now=T0 + 30 * S)] == [keen_run, other_run]
    assert drain(session, T0 + 30 * S) == [keen_run, other_run]


def test_the_order_shown_is_the_claim_order_with_tutorials_in_the_queue(session):
    rng = random.Random(7)
    tut, cw = tutorial_coursework(session), add_coursework(session)
    students = [add_student(session) for _ in range(5)]
    at = T0
    for _ in range(30):
        at += dt.timedelta(milliseconds=rng.randint(0, 1500))
        queue_run(session, rng.choice(students), rng.choice([tut, cw]), at)
    now = at + S
    drain_some = [claim_next_run(session=session, worker_id="w", queues=("cpu",), now=now) for _ in range(6)]
    assert all(drain_some)
    now += 10 * S
    claimed = []
    while True:
        expected = queued_in_order(session=session, queue="cpu", now=now)
        lease = claim_next_run(session=session, worker_id="w", queues=("cpu",), now=now)
        if lease is None:
            assert expected == []
            break
        assert lease.run_id == expected[0].id
        claimed.append(get_run(session=session, run_id=lease.run_id))
    # Every assessed run was claimed before any tutorial run.
    kinds = [r.priority for r in claimed]
    assert kinds == sorted(kinds) and TUTORIAL in kinds and NORMAL[RunKind.full] in kinds


def drain(session: Session, now: dt.datetime) -> list[int]:
    claimed = []
    while lease := claim_next_run(session=session, worker_id="w", queues=("cpu",), now=now):
        claimed.append(lease.run_id)
        now += S
    return claimed
