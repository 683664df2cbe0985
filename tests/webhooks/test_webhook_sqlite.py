"""The embedded default: on SQLite the outbox is written with the result and deliverers in
parallel still send each delivery once (the claim's guard; SQLite serialises writers); secrets are
sealed in the file, and the migration seals those stored in clear before."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
from gradebook_factory import TESTS, graded_report
from sqlalchemy import select, text
from webhook_kit import BOX, LOOPBACK, SECRET, SECRET_KEY, add_endpoint, leased_run

from grader.db.engine import make_engine, session_factory
from grader.db.migrate import downgrade, upgrade
from grader.runs.service import complete_run
from grader.webhooks.delivery import deliver_due
from grader.webhooks.models import DeliveryStatus, WebhookDelivery
from grader.webhooks.sealing import SecretBox
from grader.webhooks.service import create_endpoint
from grader.webhooks.signing import verify


def test_sqlite_outbox_and_parallel_delivery(tmp_path: Path, receiver):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    try:
        with sessions() as session:
            add_endpoint(session, receiver.url + "/a")
            add_endpoint(session, receiver.url + "/b", events=["submission.graded", "submission.grading_failed"])
            for _ in range(10):
                complete_run(session=session, lease=leased_run(session), report=graded_report(), tests=TESTS)
            assert len(session.scalars(select(WebhookDelivery)).all()) == 20
        start = threading.Barrier(3)

        def deliverer() -> None:
            with httpx.Client() as client:
                start.wait()
                deliver_due(sessions, client, box=BOX, egress=LOOPBACK)

        threads = [threading.Thread(target=deliverer) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        sent = [(r.path, r.headers["Grader-Event-Id"]) for r in receiver.requests]
        assert len(sent) == 20 == len(set(sent))
        assert all(verify(SECRET, r.headers["Grader-Signature"], r.body) for r in receiver.requests)
        with sessions() as session:
            rows = session.scalars(select(WebhookDelivery)).all()
            assert {(r.status, r.attempts) for r in rows} == {(DeliveryStatus.delivered, 1)}
    finally:
        engine.dispose()


def test_sqlite_secrets_are_sealed_at_rest_and_still_sign(tmp_path: Path, receiver):
    db = tmp_path / "gradebook.db"
    upgrade(f"sqlite:///{db}", secret_key=SECRET_KEY)
    engine = make_engine(f"sqlite:///{db}")
    sessions = session_factory(engine)
    try:
        with sessions() as session:
            create_endpoint(session=session, box=BOX, url=receiver.url + "/hook", secret=SECRET, egress=LOOPBACK)
            complete_run(session=session, lease=leased_run(session), report=graded_report(), tests=TESTS)
            raw = session.execute(text("SELECT secret FROM webhook_endpoints")).scalar_one()
        assert SECRET not in raw and BOX.open(raw) == SECRET
        on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("gradebook.db"))
        assert SECRET.encode() not in on_disk  # not in the file, nor in its write-ahead log
        with httpx.Client() as client:
            assert len(deliver_due(sessions, client, box=BOX, egress=LOOPBACK).delivered) == 1
        [sent] = receiver.requests
        verify(SECRET, sent.headers["Grader-Signature"], sent.body)  # signed with the secret itself
        # Under another service key the secret cannot be opened: the delivery fails, nothing is sent.
        with sessions() as session:
            complete_run(session=session, lease=leased_run(session), report=graded_report(), tests=TESTS)
        with httpx.Client() as client:
            report = deliver_due(sessions, client, box=SecretBox("another-key"), egress=LOOPBACK)
        assert len(report.failed) == 1 and len(receiver.requests) == 1
        with sessions() as session:
            assert "GRADER_SECRET_KEY" in session.get(WebhookDelivery, report.failed[0]).last_error
    finally:
        engine.dispose()


def test_the_migration_seals_secrets_stored_in_clear_and_the_downgrade_opens_them(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0006")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:  # an endpoint registered by the previous version: secret in clear
            conn.execute(
                text(
                    "INSERT INTO webhook_endpoints (url, secret, description, events, active, created_at) "
                    "VALUES ('https://labts.example.ac.uk/h', :s, '', '[\"submission.graded\"]', 1, "
                    "'2026-11-30 10:00:00')"
                ),
                {"s": SECRET},
            )
        upgrade(url, secret_key=SECRET_KEY)
        with engine.connect() as conn:
            raw = conn.execute(text("SELECT secret FROM webhook_endpoints")).scalar_one()
        assert raw != SECRET and SECRET not in raw and BOX.open(raw) == SECRET
        upgrade(url, secret_key=SECRET_KEY)  # again: nothing to do, nothing sealed twice
        downgrade(url, "0008_httplimits", secret_key=SECRET_KEY)  # this migration's own downgrade
        with engine.connect() as conn:
            assert conn.execute(text("SELECT secret FROM webhook_endpoints")).scalar_one() == SECRET
    finally:
        engine.dispose()
