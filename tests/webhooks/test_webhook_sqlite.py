"""The embedded default: on SQLite the outbox is written with the result and deliverers in
parallel still send each delivery once (the claim's guard; SQLite serialises writers)."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
from sqlalchemy import select

from gradebook_factory import TESTS, graded_report
from grader.db.engine import make_engine, session_factory
from grader.db.migrate import upgrade
from grader.runs.service import complete_run
from grader.webhooks.delivery import deliver_due
from grader.webhooks.models import DeliveryStatus, WebhookDelivery
from grader.webhooks.signing import verify
from webhook_kit import BOX, LOOPBACK, SECRET, add_endpoint, leased_run


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
