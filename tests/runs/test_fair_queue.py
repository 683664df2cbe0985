"""The claim order on real Postgres (and on SQLite, the embedded claim): round-robin by student,
pre-checks first, a lecturer's raised run before all, and the Python mirror of the order agreeing
with the SQL the workers claim by."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from gradebook_factory import DEADLINE, add_coursework, add_student, submit
from sqlalchemy.orm import Session

from grader.db.engine import make_engine, session_factory
from grader.db.migrate import upgrade
from grader.runs.fair_queue import RAISED, queued_in_order
from grader.runs.models import RunKind
from grader.runs.service import claim_next_run, enqueue_run, get_run, raise_priority

T0 = DEADLINE - dt.timedelta(hours=1)
S = dt.timedelta(seconds=1)


def queue_run(session: Session, student, cw, at: dt.datetime, kind: RunKind = RunKind.full) -> int:
    sub = submit(session, student, cw, at)
    return enqueue_run(
        session=session,
        submission_id=sub.id,
        kind=kind,
        queue="precheck" if kind is RunKind.precheck else "cpu",
        now=at,
    ).id


def drain(session: Session, now: dt.datetime, queues=("cpu",)) -> list[int]:
    claimed = []
    while lease := claim_next_run(session=session, worker_id="w", queues=queues, now=now):
        claimed.append(lease.run_id)
        now += S
    return claimed


def cohort_with_one_eager_student(session: Session) -> tuple[list[int], list[int]]:
    """Student A sends ten files in ten seconds, then B, C, D one each: (A's runs, B C D's runs)."""
    cw = add_coursework(session)
    eager, others = add_student(session), [add_student(session) for _ in range(3)]
    a_runs = [queue_run(session, eager, cw, T0 + i * S) for i in range(10)]
    o_runs = [queue_run(session, s, cw, T0 + (10 + i) * S) for i, s in enumerate(others)]
    return a_runs, o_runs


def test_one_student_submitting_ten_times_does_not_hold_up_the_others(session):
    a_runs, o_runs = cohort_with_one_eager_student(session)
    order = drain(session, T0 + 60 * S)
    # FIFO would serve all ten of A's first; the fair queue serves A's first, then everyone else's.
    assert order[:4] == [a_runs[0], *o_runs]
    assert order[4:] == a_runs[1:]


def test_a_student_served_lately_waits_behind_one_who_was_not(session):
    cw = add_coursework(session)
    busy, fresh = add_student(session), add_student(session)
    queue_run(session, busy, cw, T0)
    assert drain(session, T0 + S) != []  # busy's first run was claimed a moment ago
    later_busy = queue_run(session, busy, cw, T0 + 2 * S)
    later_fresh = queue_run(session, fresh, cw, T0 + 3 * S)  # joined after, but served first
    assert drain(session, T0 + 4 * S) == [later_fresh, later_busy]


def test_prechecks_go_first_and_a_raised_run_beats_the_round_robin(session):
    cw = add_coursework(session)
    a, b = add_student(session), add_student(session)
    first = queue_run(session, a, cw, T0)
    second = queue_run(session, b, cw, T0 + S)
    late = queue_run(session, b, cw, T0 + 2 * S)  # b's second: last in the round-robin
    check = queue_run(session, a, cw, T0 + 3 * S, RunKind.precheck)
    lecturer_raises = get_run(session=session, run_id=late)
    assert raise_priority(session=session, run=lecturer_raises, raised_by_id=None, now=T0 + 4 * S)
    assert get_run(session=session, run_id=late).priority == RAISED
    assert drain(session, T0 + 5 * S, queues=("precheck", "cpu")) == [check, late, first, second]
    # Once claimed it is no longer queued: raising it again changes nothing.
    assert not raise_priority(session=session, run=get_run(session=session, run_id=late), raised_by_id=None)


def test_the_positions_shown_are_the_order_workers_claim_in(session):
    rng = random.Random(13)
    cw = add_coursework(session)
    students = [add_student(session) for _ in range(6)]
    at = T0
    for _ in range(30):
        at += dt.timedelta(milliseconds=rng.randint(0, 1500))  # ties in time too, now and then
        queue_run(session, rng.choice(students), cw, at)
    # Some were claimed lately: the order must weigh that too.
    early = drain_some(session, at + S, 5)
    now = at + 10 * S
    shown = [q.id for q in queued_in_order(session=session, queue="cpu", now=now)]
    assert len(shown) == 25 and not set(shown) & set(early)
    claimed = []
    while True:
        # Each claim changes who was served lately: the order shown just before it must name the run it takes.
        expected = queued_in_order(session=session, queue="cpu", now=now)
        lease = claim_next_run(session=session, worker_id="w", queues=("cpu",), now=now)
        if lease is None:
            assert expected == []
            break
        assert lease.run_id == expected[0].id
        claimed.append(lease.run_id)
    assert sorted(claimed) == sorted(shown) and claimed[0] == shown[0]


def drain_some(session: Session, now: dt.datetime, n: int) -> list[int]:
    return [claim_next_run(session=session, worker_id="w", queues=("cpu",), now=now + i * S).run_id for i in range(n)]


def test_the_fair_claim_works_on_the_embedded_sqlite_gradebook(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            a_runs, o_runs = cohort_with_one_eager_student(session)
            assert drain(session, T0 + 60 * S) == [a_runs[0], *o_runs, *a_runs[1:]]
    finally:
        engine.dispose()


def test_with_the_fair_queue_off_the_claim_is_first_in_first_out(session):
    a_runs, o_runs = cohort_with_one_eager_student(session)
    claimed = []
    while lease := claim_next_run(session=session, worker_id="w", queues=("cpu",), fair=False, now=T0 + 60 * S):
        claimed.append(lease.run_id)
    assert claimed == [*a_runs, *o_runs]
