"""Sending the outbox to a real HTTP receiver on loopback: signatures, retries with backoff, giving
up, and deliverers in parallel never sending one delivery twice (Postgres)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
import uuid

import httpx
import pytest
from gradebook_factory import TESTS, graded_report
from sqlalchemy import select, text
from webhook_kit import BOX, LOOPBACK, SECRET, SECRET_KEY, add_endpoint, leased_run

from grader.runs.service import complete_run
from grader.settings import Settings
from grader.webhooks.delivery import DeliveryReport, deliver_due
from grader.webhooks.models import DeliveryStatus, WebhookDelivery
from grader.webhooks.runner import kick_sender, stop_senders
from grader.webhooks.signing import SignatureError, verify

NOW = dt.datetime(2026, 2, 13, 18, 5, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


@pytest.fixture
def http() -> httpx.Client:
    with httpx.Client() as client:
        yield client


def deliver(sessions, client, now=None, **options) -> DeliveryReport:
    """``deliver_due`` with the tests' secret key, loopback receivers allowed."""
    return deliver_due(sessions, client, now, **{"box": BOX, "egress": LOOPBACK, **options})


def graded_event(sessions, url: str, **endpoint) -> int:
    """A run graded with one endpoint subscribed: returns its delivery's id."""
    with sessions() as session:
        add_endpoint(session, url, **endpoint)
        lease = leased_run(session)
        complete_run(session=session, lease=lease, report=graded_report(), tests=TESTS, now=NOW)
        return session.scalars(select(WebhookDelivery.id)).one()


def row(sessions, delivery_id: int) -> WebhookDelivery:
    with sessions() as session:
        return session.get(WebhookDelivery, delivery_id)


def test_a_delivery_is_signed_and_marked_delivered(sessions, receiver, http):
    delivery_id = graded_event(sessions, receiver.url + "/hooks/grader")
    before = time.time()
    report = deliver(sessions, http, NOW)
    assert report.delivered == [delivery_id] and not report.retrying and not report.failed

    [sent] = receiver.requests
    assert sent.path == "/hooks/grader"
    # What a receiver does: verify the raw body with the shared secret before trusting it.
    t = verify(SECRET, sent.headers["Grader-Signature"], sent.body)
    assert before - 1 <= t <= time.time() + 1
    with pytest.raises(SignatureError):
        verify("whsec_" + "x" * 40, sent.headers["Grader-Signature"], sent.body)
    delivered = row(sessions, delivery_id)
    event = json.loads(sent.body)
    assert event == delivered.payload and event["type"] == "submission.graded"
    assert sent.headers["Grader-Event-Id"] == event["id"] == str(delivered.event_id)
    assert sent.headers["Grader-Event-Type"] == "submission.graded"
    assert sent.headers["Content-Type"] == "application/json"
    assert (delivered.status, delivered.attempts, delivered.last_status_code, delivered.last_error) == (
        DeliveryStatus.delivered,
        1,
        200,
        None,
    )
    assert delivered.delivered_at == NOW

    assert deliver(sessions, http, NOW + dt.timedelta(days=1)).delivered == []  # never sent again
    assert len(receiver.requests) == 1


def test_a_500_is_retried_after_a_backoff_then_delivered(sessions, receiver, http):
    receiver.statuses.extend([500, 503])
    delivery_id = graded_event(sessions, receiver.url + "/hook")

    assert deliver(sessions, http, NOW).retrying == [delivery_id]
    first = row(sessions, delivery_id)
    assert (first.status, first.attempts, first.last_status_code) == (DeliveryStatus.pending, 1, 500)
    assert first.next_attempt_at == NOW + 30 * S
    assert first.last_error == "HTTP 500 Internal Server Error"  # our words, never the reply's

    assert deliver(sessions, http, NOW + 29 * S).retrying == []  # not yet due
    assert len(receiver.requests) == 1

    assert deliver(sessions, http, NOW + 30 * S).retrying == [delivery_id]
    second = row(sessions, delivery_id)
    assert (second.attempts, second.last_status_code) == (2, 503)
    assert second.next_attempt_at == NOW + 30 * S + 60 * S  # doubled

    assert deliver(sessions, http, NOW + 90 * S).delivered == [delivery_id]
    done = row(sessions, delivery_id)
    assert (done.status, done.attempts, done.last_status_code, done.last_error) == (
        DeliveryStatus.delivered,
        3,
        200,
        None,
    )
    # Every attempt sent the same event, freshly signed.
    assert len({r.body for r in receiver.requests}) == 1 and len(receiver.requests) == 3
    assert {r.headers["Grader-Event-Id"] for r in receiver.requests} == {str(done.event_id)}


def test_it_gives_up_after_max_attempts(sessions, receiver, http):
    receiver.default_status = 502
    delivery_id = graded_event(sessions, receiver.url)
    at = NOW
    for attempt in (1, 2, 3):
        report = deliver(sessions, http, at, max_attempts=3)
        assert (report.retrying if attempt < 3 else report.failed) == [delivery_id]
        at = row(sessions, delivery_id).next_attempt_at
    failed = row(sessions, delivery_id)
    assert (failed.status, failed.attempts, failed.last_status_code) == (DeliveryStatus.failed, 3, 502)
    assert deliver(sessions, http, NOW + dt.timedelta(days=30), max_attempts=3).failed == []
    assert len(receiver.requests) == 3


@pytest.mark.parametrize("status", [301, 302, 307, 404, 410])
def test_redirects_and_client_errors_are_failures_and_never_followed(sessions, receiver, http, status):
    receiver.statuses.append(status)
    delivery_id = graded_event(sessions, receiver.url + "/hook")
    assert deliver(sessions, http, NOW).retrying == [delivery_id]
    assert receiver.paths() == ["/hook"]  # nothing sent to /elsewhere
    assert row(sessions, delivery_id).last_status_code == status


def test_a_timeout_is_retried(sessions, receiver, http):
    receiver.delay_s = 2.0
    slow = graded_event(sessions, receiver.url)
    assert deliver(sessions, http, NOW, timeout_s=0.5).retrying == [slow]
    timed_out = row(sessions, slow)
    assert timed_out.last_error == "no answer within 0.5 s" and timed_out.last_status_code is None
    assert (timed_out.status, timed_out.attempts) == (DeliveryStatus.pending, 1)


def test_a_refused_connection_is_retried(sessions, http):
    with socket.socket() as s:  # a port that was free a moment ago, and nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = graded_event(sessions, f"http://127.0.0.1:{port}/hook")
    assert deliver(sessions, http, NOW, timeout_s=2).retrying == [refused]
    failed = row(sessions, refused)
    assert failed.last_error.startswith("ConnectError") and failed.last_status_code is None
    assert (failed.status, failed.attempts) == (DeliveryStatus.pending, 1)


def test_inactive_endpoints_and_non_http_urls_are_never_posted_to(sessions, receiver, http):
    with sessions() as session:
        inactive = add_endpoint(session, receiver.url, active=False)
        smuggled = add_endpoint(session, "file:///etc/passwd")  # written past the API's check
        now = NOW
        for endpoint_id in (inactive, smuggled):
            session.add(
                WebhookDelivery(
                    event_id=uuid.uuid4(),
                    endpoint_id=endpoint_id,
                    event_type="submission.graded",
                    payload={"id": "x"},
                    next_attempt_at=now,
                )
            )
        session.commit()
    report = deliver(sessions, http, NOW)
    assert len(report.failed) == 2 and receiver.requests == []
    with sessions() as session:
        errors = sorted(session.scalars(select(WebhookDelivery.last_error)))
    assert errors == ["the URL must start with http:// or https://.", "the endpoint was removed or deactivated"]


def test_a_claim_whose_deliverer_died_comes_due_again_then_gives_up(sessions, receiver, http):
    delivery_id = graded_event(sessions, receiver.url)
    with sessions() as session:  # a deliverer claimed the last allowed attempt, then vanished
        d = session.get(WebhookDelivery, delivery_id)
        d.attempts, d.next_attempt_at = 3, NOW + 70 * S
        session.commit()
    assert deliver(sessions, http, NOW + 60 * S, max_attempts=3).failed == []  # its claim still runs
    assert deliver(sessions, http, NOW + 70 * S, max_attempts=3).failed == [delivery_id]
    assert "never recorded" in row(sessions, delivery_id).last_error and receiver.requests == []


def test_two_deliverers_in_parallel_never_send_one_delivery_twice(sessions, receiver):
    receiver.delay_s = 0.01
    with sessions() as session:
        endpoint_id = add_endpoint(session, receiver.url)
        session.add_all(
            WebhookDelivery(
                event_id=uuid.uuid4(),
                endpoint_id=endpoint_id,
                event_type="submission.graded",
                payload={"n": n},
                next_attempt_at=NOW + n * dt.timedelta(milliseconds=1),
            )
            for n in range(60)
        )
        session.commit()
    reports, start = [], threading.Barrier(3)

    def deliverer() -> None:
        with httpx.Client() as client:
            start.wait()
            reports.append(deliver(sessions, client, NOW + S))

    threads = [threading.Thread(target=deliverer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    sent = [r.headers["Grader-Event-Id"] for r in receiver.requests]
    assert len(sent) == 60 == len(set(sent))
    assert sorted(d for r in reports for d in r.delivered) == list(range(1, 61))
    assert all(len(r.delivered) < 60 for r in reports)  # the work was really shared
    with sessions() as session:
        assert set(session.scalars(select(WebhookDelivery.attempts))) == {1}


def test_a_deliverer_skips_a_delivery_another_one_is_claiming_instead_of_waiting(sessions, receiver, http):
    with sessions() as session:
        endpoint_id = add_endpoint(session, receiver.url)
        session.add_all(
            WebhookDelivery(
                event_id=uuid.uuid4(),
                endpoint_id=endpoint_id,
                event_type="submission.graded",
                payload={"n": n},
                next_attempt_at=NOW + n * S,
            )
            for n in range(2)
        )
        session.commit()
    with sessions() as holder:
        # Another deliverer is in the middle of claiming the first: it holds the row lock.
        holder.execute(text("SELECT id FROM webhook_deliveries WHERE id = 1 FOR UPDATE"))
        reports = []
        t = threading.Thread(target=lambda: reports.append(deliver(sessions, http, NOW + 5 * S)), daemon=True)
        t.start()
        t.join(timeout=20)  # were SKIP LOCKED missing, it would wait here for the lock
        assert not t.is_alive() and reports[0].delivered == [2]
        holder.rollback()
    assert [json.loads(r.body) for r in receiver.requests] == [{"n": 1}]


def test_the_workers_sender_thread_delivers_when_kicked(sessions, receiver, pg_url):
    delivery_id = graded_event(sessions, receiver.url)
    try:
        kick_sender(
            sessions,
            Settings(
                database_url=pg_url, webhook_timeout_s=5, secret_key=SECRET_KEY, webhook_allowed_hosts=["127.0.0.1"]
            ),
        )
        deadline = time.monotonic() + 30
        while row(sessions, delivery_id).status != DeliveryStatus.delivered and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop_senders()
    assert row(sessions, delivery_id).status == DeliveryStatus.delivered
    assert len(receiver.requests) == 1


def test_the_workers_sweeper_thread_sends_what_is_due(sessions, receiver, pg_url, tmp_path):
    from workers.dispatch import CeleryRunQueue
    from workers.sweeper import SweeperThread

    delivery_id = graded_event(sessions, receiver.url)
    settings = Settings(
        database_url=pg_url,
        sweep_interval_s=1,
        broker_url="filesystem://",
        broker_dir=tmp_path / "broker",
        blob_dir=tmp_path / "blobs",
        secret_key=SECRET_KEY,
        webhook_allowed_hosts=["127.0.0.1"],
    )
    sweeper = SweeperThread(settings, CeleryRunQueue(settings).wake)
    sweeper.start()
    try:
        deadline = time.monotonic() + 30
        while row(sessions, delivery_id).status != DeliveryStatus.delivered and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        sweeper.stop()
        sweeper.join(timeout=30)
        stop_senders()
    assert row(sessions, delivery_id).status == DeliveryStatus.delivered
    assert len(receiver.requests) == 1
