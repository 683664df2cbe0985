"""Events are written with the run's result, in its transaction, once, for the endpoints that
asked for them (Postgres)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from gradebook_factory import TESTS, graded_report, infrastructure_error
from sqlalchemy import func, select, text
from webhook_kit import SECRET, add_endpoint, leased_run

from grader.roster.models import Student
from grader.runs.models import RunKind, RunStatus
from grader.runs.service import claim_run, complete_run, fail_run, get_run, sweep_expired_leases
from grader.submissions.models import Submission
from grader.webhooks.models import DeliveryStatus, WebhookDelivery

URL = "https://cate.example.ac.uk/hooks"
NOW = dt.datetime(2026, 2, 13, 18, 5, tzinfo=dt.UTC)


def deliveries(session, endpoint_id=None) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).order_by(WebhookDelivery.id)
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    return list(session.scalars(query))


def endpoints(session) -> dict[str, int]:
    return {
        "graded": add_endpoint(session, URL + "/a"),
        "both": add_endpoint(session, URL + "/b", events=["submission.graded", "submission.grading_failed"]),
        "failed_only": add_endpoint(session, URL + "/c", events=["submission.grading_failed"]),
        "inactive": add_endpoint(session, URL + "/d", active=False),
    }


def test_a_graded_run_writes_one_delivery_per_subscribed_active_endpoint(sessions):
    with sessions() as session:
        ids = endpoints(session)
        lease = leased_run(session)
        report = graded_report()
        assert (
            complete_run(
                session=session, lease=lease, report=report, tests=TESTS, now=NOW, public_url="https://grader.example/"
            )
            is RunStatus.graded
        )
    with sessions() as session:
        rows = deliveries(session)
        assert sorted(r.endpoint_id for r in rows) == sorted([ids["graded"], ids["both"]])
        assert len({r.event_id for r in rows}) == 1  # one event, told to each endpoint
        assert all(r.status == DeliveryStatus.pending and r.attempts == 0 and r.next_attempt_at == NOW for r in rows)
        sub = session.get(Submission, lease.submission_id)
        student = session.get(Student, sub.student_id)
        event = rows[0].payload
        assert event == {
            "id": str(rows[0].event_id),
            "type": "submission.graded",
            "occurred_at": NOW.isoformat(),
            "data": {
                "coursework": event["data"]["coursework"],
                "submission_id": str(sub.id),
                "student_external_id": student.external_id,
                "run_id": lease.run_id,
                "status": "graded",
                "error_kind": None,
                "score": report.score,
                "max_score": 6.0,
                "visible_score": sum(
                    i.score for i in report.marks.items if i.kind == "auto" and i.visibility == "visible"
                ),
                "visible_max_score": sum(
                    i.max_score for i in report.marks.items if i.kind == "auto" and i.visibility == "visible"
                ),
                "received_at": sub.received_at.isoformat(),
                "late_minutes": sub.late_minutes,
                "url": f"https://grader.example/api/v1/submissions/{sub.id}",  # the caller's public_url
            },
        }
        assert event["data"]["coursework"].startswith("cw")
        # Totals only: no item, test or penalty (some are hidden) travels in a webhook.
        assert "conv" not in str(event) and "test_a.py" not in str(event) and SECRET not in str(event)


def test_the_event_is_written_by_the_very_transaction_that_records_the_result(sessions):
    with sessions() as session:
        add_endpoint(session, URL)
        lease = leased_run(session)
        complete_run(session=session, lease=lease, report=graded_report(), tests=TESTS, now=NOW)
        # xmin: the id of the transaction that wrote a row version.
        run_xmin = session.execute(
            text("SELECT xmin::text FROM grading_runs WHERE id = :id"), {"id": lease.run_id}
        ).scalar_one()
        delivery_xmins = session.execute(text("SELECT xmin::text FROM webhook_deliveries")).scalars().all()
        assert delivery_xmins == [run_xmin]


def test_a_run_completed_twice_emits_once(sessions):
    with sessions() as session:
        add_endpoint(session, URL)
        lease = leased_run(session)
        assert complete_run(session=session, lease=lease, report=graded_report(), tests=TESTS) is RunStatus.graded
        # The task delivered again (a broker redelivery): the lease is no longer held.
        assert complete_run(session=session, lease=lease, report=graded_report(), tests=TESTS) is None
        assert fail_run(session=session, lease=lease, error="late duplicate", max_attempts=1) is None
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_a_swept_workers_late_result_emits_nothing(sessions):
    with sessions() as session:
        add_endpoint(session, URL)
        lease = leased_run(session)
        assert sweep_expired_leases(session=session, now=lease.expires_at + dt.timedelta(seconds=1)) == [lease.run_id]
        assert complete_run(session=session, lease=lease, report=graded_report(), tests=TESTS) is None
        assert deliveries(session) == []


def test_a_verdict_on_the_file_is_a_graded_event_with_status_error(sessions):
    with sessions() as session:
        ids = endpoints(session)
        lease = leased_run(session)
        report = dataclasses.replace(
            graded_report(), status="error", marks=None, error="not a notebook", error_kind="submission"
        )
        assert complete_run(session=session, lease=lease, report=report, now=NOW) is RunStatus.error
        rows = deliveries(session)
        assert sorted(r.endpoint_id for r in rows) == sorted([ids["graded"], ids["both"]])
        data = rows[0].payload["data"]
        assert rows[0].event_type == "submission.graded"
        assert (data["status"], data["error_kind"], data["score"]) == ("error", "submission", None)
        assert "not a notebook" not in str(rows[0].payload)


def test_infrastructure_failures_emit_only_when_retries_are_used_up(sessions):
    with sessions() as session:
        ids = endpoints(session)
        lease = leased_run(session)
        # Attempts left: back to the queue, nothing to tell.
        assert (
            complete_run(session=session, lease=lease, report=infrastructure_error(), max_attempts=2, now=NOW)
            is RunStatus.queued
        )
        assert deliveries(session) == []
        second = claim_run(session=session, run_id=lease.run_id, worker_id="w2", now=NOW)
        assert (
            complete_run(session=session, lease=second, report=infrastructure_error(), max_attempts=2, now=NOW)
            is RunStatus.error
        )
        rows = deliveries(session)
        assert sorted(r.endpoint_id for r in rows) == sorted([ids["both"], ids["failed_only"]])
        assert {r.event_type for r in rows} == {"submission.grading_failed"}
        assert rows[0].payload["data"]["status"] == "error"
        assert rows[0].payload["data"]["error_kind"] == "infrastructure"


def test_prechecks_and_unsubscribed_courses_emit_nothing(sessions):
    with sessions() as session:
        lease = leased_run(session)  # no endpoint at all
        assert complete_run(session=session, lease=lease, report=graded_report(), tests=TESTS) is RunStatus.graded
        add_endpoint(session, URL)
        precheck = leased_run(session, kind=RunKind.precheck)
        assert complete_run(session=session, lease=precheck, report=graded_report()) is RunStatus.graded
        assert deliveries(session) == []
        assert get_run(session=session, run_id=precheck.run_id).status is RunStatus.graded


def test_event_ids_are_unique_per_event(sessions):
    with sessions() as session:
        add_endpoint(session, URL)
        for _ in range(3):
            lease = leased_run(session)
            complete_run(session=session, lease=lease, report=graded_report(), tests=TESTS)
        event_ids = [r.event_id for r in deliveries(session)]
        assert len(event_ids) == 3 == len(set(event_ids)) and all(isinstance(e, uuid.UUID) for e in event_ids)
