"""The queue of record on Postgres: claims, leases, sweeping, retries, results written once."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

from gradebook_factory import (
    DEADLINE,
    TESTS,
    add_coursework,
    add_student,
    graded_report,
    infrastructure_error,
    submit,
)
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from grader.runs.models import GradingRun, RunItemScore, RunKind, RunPenalty, RunStatus, RunTestResult
from grader.runs.service import (
    claim_next_run,
    claim_run,
    complete_run,
    enqueue_run,
    fail_run,
    get_run,
    latest_graded_run,
    oldest_queued_at,
    renew_lease,
    sweep_expired_leases,
)

T0 = DEADLINE
S = dt.timedelta(seconds=1)


def queued_runs(session: Session, n: int, kind: RunKind = RunKind.full, start: dt.datetime = T0) -> list[int]:
    cw, student = add_coursework(session), add_student(session)
    return [
        enqueue_run(
            session=session, submission_id=submit(session, student, cw, start + i * S).id, kind=kind, now=start + i * S
        ).id
        for i in range(n)
    ]


def count(session: Session, model: type, run_id: int) -> int:
    return session.scalar(select(func.count()).select_from(model).where(model.run_id == run_id))


def test_enqueue_twice_gives_the_same_live_run(session):
    cw, student = add_coursework(session), add_student(session)
    sub = submit(session, student, cw, T0)
    first = enqueue_run(session=session, submission_id=sub.id, now=T0)
    again = enqueue_run(session=session, submission_id=sub.id, now=T0 + S)
    precheck = enqueue_run(session=session, submission_id=sub.id, kind=RunKind.precheck, now=T0 + S)
    assert again.id == first.id and precheck.id != first.id
    assert oldest_queued_at(session=session) == T0


def test_prechecks_are_claimed_before_older_full_runs_and_queues_are_kept_apart(session):
    full = queued_runs(session, 2)
    precheck = queued_runs(session, 1, RunKind.precheck, start=T0 + 60 * S)
    assert claim_next_run(session=session, worker_id="w", queues=["gpu"], now=T0) is None
    order = [claim_next_run(session=session, worker_id="w", now=T0 + 90 * S).run_id for _ in range(3)]
    assert order == precheck + full
    assert claim_next_run(session=session, worker_id="w", now=T0 + 90 * S) is None


def test_a_claimer_skips_a_run_another_claimer_holds_instead_of_waiting(committed):
    with committed() as setup:
        first, second = queued_runs(setup, 2)
        setup.commit()
    with committed() as a, committed() as b:
        # A is in the middle of claiming `first`: it holds the row lock.
        a.execute(text("SELECT id FROM grading_runs WHERE id = :id FOR UPDATE"), {"id": first})
        b.execute(text("SET lock_timeout = '5s'"))  # were SKIP LOCKED missing, B would fail here
        assert claim_next_run(session=b, worker_id="b").run_id == second
        a.rollback()
        assert claim_next_run(session=b, worker_id="b").run_id == first
        assert claim_next_run(session=b, worker_id="b") is None


def test_concurrent_claimers_on_separate_connections_never_share_a_run(committed):
    with committed() as setup:
        ids = queued_runs(setup, 60)
        setup.commit()
    workers = 6
    start = threading.Barrier(workers)

    def drain(worker: int) -> list[int]:
        got = []
        with committed() as session:
            start.wait()
            while lease := claim_next_run(session=session, worker_id=f"w{worker}"):
                got.append(lease.run_id)
        return got

    with ThreadPoolExecutor(workers) as pool:
        claimed = [run for got in pool.map(drain, range(workers)) for run in got]
    assert sorted(claimed) == sorted(ids)  # every run claimed, none twice
    with committed() as check:
        assert check.scalar(select(func.count()).where(GradingRun.status == RunStatus.running)) == 60


def test_a_claim_naming_a_run_is_refused_once_another_worker_has_it(session):
    (run_id,) = queued_runs(session, 1)
    assert claim_run(session=session, run_id=run_id, worker_id="a", now=T0).attempt == 1
    assert claim_run(session=session, run_id=run_id, worker_id="b", now=T0) is None


def test_heartbeats_keep_a_lease_and_an_expired_one_is_swept_back_to_the_queue(session):
    (run_id,) = queued_runs(session, 1)
    lease = claim_next_run(session=session, worker_id="a", lease_s=60, now=T0)
    assert lease.expires_at == T0 + 60 * S
    lease = renew_lease(session=session, lease=lease, lease_s=60, now=T0 + 50 * S)
    assert sweep_expired_leases(session=session, now=T0 + 100 * S) == []  # renewed to T0+110
    assert get_run(session=session, run_id=run_id).status is RunStatus.running

    assert sweep_expired_leases(session=session, now=T0 + 111 * S) == [run_id]  # re-wake it
    run = get_run(session=session, run_id=run_id)
    assert (run.status, run.attempt, run.worker_id, run.error_kind) == (RunStatus.queued, 2, None, "infrastructure")
    # The vanished worker comes back: its lease is gone, whatever it tries.
    assert renew_lease(session=session, lease=lease, now=T0 + 112 * S) is None
    assert complete_run(session=session, lease=lease, report=graded_report(), now=T0 + 112 * S) is None

    second = claim_next_run(session=session, worker_id="b", now=T0 + 120 * S)
    assert (second.run_id, second.attempt) == (run_id, 2)
    assert complete_run(session=session, lease=second, report=graded_report(), now=T0 + 130 * S) is RunStatus.graded
    assert count(session, RunItemScore, run_id) == 3


def test_a_run_whose_worker_keeps_vanishing_ends_as_an_infrastructure_error(session):
    (run_id,) = queued_runs(session, 1)
    for attempt, now in [(1, T0), (2, T0 + 200 * S)]:
        lease = claim_next_run(session=session, worker_id="a", lease_s=60, now=now)
        assert lease.attempt == attempt
        swept = sweep_expired_leases(session=session, max_attempts=2, now=now + 61 * S)
        assert swept == ([run_id] if attempt == 1 else [])
    run = get_run(session=session, run_id=run_id)
    assert (run.status, run.error_kind, run.finished_at) == (RunStatus.error, "infrastructure", T0 + 261 * S)


def test_infrastructure_errors_are_retried_up_to_the_limit_then_recorded(session):
    (run_id,) = queued_runs(session, 1)
    lease = claim_next_run(session=session, worker_id="a", now=T0)
    assert (
        complete_run(session=session, lease=lease, report=infrastructure_error(), max_attempts=2, now=T0)
        is RunStatus.queued
    )
    assert get_run(session=session, run_id=run_id).attempt == 2
    lease = claim_next_run(session=session, worker_id="a", now=T0 + S)
    assert (
        fail_run(session=session, lease=lease, error="broker hiccup", max_attempts=2, now=T0 + 2 * S) is RunStatus.error
    )
    run = get_run(session=session, run_id=run_id)
    assert (run.status, run.error, run.score) == (RunStatus.error, "broker hiccup", None)
    assert count(session, RunItemScore, run_id) == 0


def test_completing_twice_writes_the_results_once(session):
    (run_id,) = queued_runs(session, 1)
    lease = claim_next_run(session=session, worker_id="a", now=T0)
    assert (
        complete_run(
            session=session,
            lease=lease,
            report=graded_report(),
            tests=TESTS,
            log="ok",
            backend="bwrap",
            environment_digest="e" * 64,
            now=T0 + 5 * S,
        )
        is RunStatus.graded
    )
    assert complete_run(session=session, lease=lease, report=graded_report(), tests=TESTS, now=T0 + 6 * S) is None
    run = get_run(session=session, run_id=run_id)
    assert (run.status, run.score, run.finished_at, run.seed, run.backend) == (
        RunStatus.graded,
        4.0,
        T0 + 5 * S,
        1234,
        "bwrap",
    )
    assert run.details == {"execution": {"cells": 5}, "sandbox": {"rc": 0}}
    assert (
        count(session, RunItemScore, run_id),
        count(session, RunPenalty, run_id),
        count(session, RunTestResult, run_id),
    ) == (3, 1, 3)
    assert [(i.item_id, i.score, i.status) for i in run.items] == [
        ("conv", 4.0, "passed"),
        ("pool", 0.0, "failed"),
        ("disc", 0.0, "manual"),
    ]
    assert latest_graded_run(session=session, submission_id=run.submission_id).id == run_id


def test_two_workers_completing_the_same_lease_at_once_count_once(committed):
    with committed() as setup:
        (run_id,) = queued_runs(setup, 1)
        setup.commit()
        lease = claim_next_run(session=setup, worker_id="a")
    start = threading.Barrier(2)

    def complete(_: int):
        with committed() as session:
            start.wait()
            return complete_run(session=session, lease=lease, report=graded_report(), tests=TESTS)

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(complete, range(2)))
    assert sorted(outcomes, key=str) == sorted([RunStatus.graded, None], key=str)
    with committed() as check:
        assert count(check, RunItemScore, run_id) == 3 and count(check, RunTestResult, run_id) == 3
