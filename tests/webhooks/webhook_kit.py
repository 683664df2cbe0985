"""Helpers for the webhook tests: a real HTTP receiver on loopback, endpoints, claimed runs.

Receivers listen on 127.0.0.1, which the default egress policy refuses: tests that mean to deliver
use ``LOOPBACK`` (127.0.0.1 allow-listed, as an operator would for a receiver on the same host).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gradebook_factory import add_coursework, add_student, submit
from sqlalchemy.orm import Session

from grader.runs.models import RunKind
from grader.runs.service import Lease, claim_run, enqueue_run
from grader.users.models import TokenView
from grader.webhooks.egress import EgressPolicy
from grader.webhooks.models import WebhookEndpoint
from grader.webhooks.sealing import SecretBox

UTC = dt.UTC
SECRET = "whsec_" + "k" * 40
SECRET_KEY = "webhook-tests-secret-key-" + "z" * 20  # the service's settings.secret_key in these tests
BOX = SecretBox(SECRET_KEY)
LOOPBACK = EgressPolicy(allowed_hosts=frozenset({"127.0.0.1"}))


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A course system's endpoint: answers each POST with the next queued status (default 200)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.statuses: deque[int] = deque()
        self.default_status = 200
        self.delay_s = 0.0
        self.reply = b""  # appended to the reply body: what an internal page might say
        self.location: str | None = None  # where a 3xx points (default: this receiver's /elsewhere)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                    status = receiver.statuses.popleft() if receiver.statuses else receiver.default_status
                time.sleep(receiver.delay_s)
                reply = f"receiver says {status}".encode() + receiver.reply
                try:
                    self.send_response(status)
                    if 300 <= status < 400:
                        self.send_header("Location", receiver.location or f"{receiver.url}/elsewhere")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:  # the sender gave up waiting (a timeout test)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll: shutdown() waits up to one interval, at every test's teardown.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def paths(self) -> list[str]:
        with self.lock:
            return [r.path for r in self.requests]


def add_endpoint(
    session: Session,
    url: str,
    events: list[str] | None = None,
    active: bool = True,
    secret: str = SECRET,
    view: TokenView = TokenView.staff,
) -> int:
    """An endpoint; the staff view unless asked (tests/visibility covers the student view)."""
    endpoint = WebhookEndpoint(
        url=url,
        secret_sealed=BOX.seal(secret),
        description="",
        events=events or ["submission.graded"],
        active=active,
        view=view,
    )
    session.add(endpoint)
    session.commit()
    return endpoint.id


def leased_run(session: Session, kind: RunKind = RunKind.full, at: dt.datetime | None = None) -> Lease:
    """A submission with a run claimed by a worker, ready to complete."""
    at = at or dt.datetime(2026, 2, 13, 18, 0, tzinfo=UTC)
    cw, student = add_coursework(session), add_student(session)
    sub = submit(session, student, cw, at)
    run = enqueue_run(session=session, submission_id=sub.id, kind=kind, now=at)
    lease = claim_run(session=session, run_id=run.id, worker_id="test-worker", now=at)
    assert lease is not None
    return lease
