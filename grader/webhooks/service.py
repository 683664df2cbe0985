"""Webhook endpoints and the events written for them.

Endpoint functions commit before they return. ``emit_run_event`` does not: it adds its outbox rows
to the caller's transaction (the one recording the run's result), so an event exists exactly when
the result does: never lost to a crash in between, never written for a result that rolled back.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.courseworks.models import Coursework
from grader.courseworks.service import is_released
from grader.db.clock import db_now
from grader.marking.run_view import run_outcome
from grader.roster.models import Student
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.settings import Settings
from grader.submissions.models import Submission
from grader.users.models import TokenView
from grader.webhooks.egress import AddressRefused, EgressPolicy
from grader.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from grader.webhooks.sealing import SecretBox

SUBMISSION_GRADED = "submission.graded"  # a verdict: graded, or the file itself was unusable
SUBMISSION_GRADING_FAILED = "submission.grading_failed"  # our failures, retries used up: a person looks
MARKS_RELEASED = "marks.released"  # a coursework's marks released to the cohort (one event per release)
MARK_CHANGED_AFTER_RELEASE = "mark.changed_after_release"  # a manual mark, override or penalty, after release
EVENT_TYPES = (SUBMISSION_GRADED, SUBMISSION_GRADING_FAILED, MARKS_RELEASED, MARK_CHANGED_AFTER_RELEASE)
DEFAULT_EVENTS = (SUBMISSION_GRADED,)
MIN_SECRET_CHARS = 32  # a shared HMAC key must not be guessable
MAX_SECRET_CHARS = 200
MAX_URL_CHARS = 2000


class WebhookError(ValueError):
    """A request that cannot be honoured as given (bad URL, short secret, unknown event)."""


def check_url(url: str, egress: EgressPolicy | None = None) -> str:
    """An absolute http(s) URL with a host and no credentials in it (they would be listed back).
    With ``egress``, a host that is itself a forbidden address (loopback, private ...) is refused
    too; names are resolved only when sending (``EgressPolicy.pin``)."""
    if len(url) > MAX_URL_CHARS:
        raise WebhookError(f"the URL is longer than {MAX_URL_CHARS} characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as exc:
        raise WebhookError(f"the URL is not valid: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookError("the URL must start with http:// or https://.")
    if not parts.hostname:
        raise WebhookError("the URL must name a host.")
    if parts.username is not None or parts.password is not None:
        raise WebhookError("the URL must not hold a user name or password; the signature authenticates us.")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise WebhookError("the URL must not hold spaces or control characters.")
    if egress is not None:
        try:
            egress.check_literal(parts.hostname)
        except AddressRefused as exc:
            raise WebhookError(str(exc)) from None
    return url


def check_events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise WebhookError(f"unknown events: {', '.join(unknown)} (known: {', '.join(EVENT_TYPES)}).")
    if not events:
        raise WebhookError("subscribe to at least one event.")
    return sorted(set(events), key=list(EVENT_TYPES).index)


def create_endpoint(
    *,
    session: Session,
    box: SecretBox,
    url: str,
    secret: str | None = None,
    events: Sequence[str] = DEFAULT_EVENTS,
    description: str = "",
    actor_id: int | None = None,
    view: TokenView = TokenView.student,
    egress: EgressPolicy = EgressPolicy(),
) -> tuple[WebhookEndpoint, str | None]:
    """Register an endpoint. Returns (row, generated secret or None): a generated secret is shown once.
    The secret is stored sealed by ``box``.

    ``view``: that of the token registering it; a student-view endpoint is sent what the student
    concerned may see (``run_event_payload``)."""
    check_url(url, egress)
    events = check_events(events)
    generated = None
    if secret is None:
        secret = generated = "whsec_" + secrets.token_urlsafe(32)
    elif not MIN_SECRET_CHARS <= len(secret) <= MAX_SECRET_CHARS:
        raise WebhookError(f"the secret must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters long.")
    endpoint = WebhookEndpoint(
        url=url,
        secret_sealed=box.seal(secret),
        description=description,
        events=events,
        active=True,
        created_by_id=actor_id,
        created_at=db_now(session),
        view=TokenView(view),
    )
    session.add(endpoint)
    session.flush()
    # The audit log names the endpoint, never its secret.
    record_event(
        session=session,
        actor_id=actor_id,
        action="webhook.add",
        subject_type="webhook",
        subject_id=endpoint.id,
        details={"url": url, "events": events, "view": endpoint.view.value},
    )
    session.commit()
    return endpoint, generated


def list_endpoints(*, session: Session, view: TokenView | None = None) -> list[WebhookEndpoint]:
    """Every endpoint, or only those registered with this view (a student-view token sees only
    those: a staff endpoint's deliveries carry full scores)."""
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.id)
    if view is not None:
        query = query.where(WebhookEndpoint.view == view)
    return list(session.scalars(query))


def get_endpoint(*, session: Session, endpoint_id: int, view: TokenView | None = None) -> WebhookEndpoint | None:
    """The endpoint, if there is one (with this view, when one is named)."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or (view is not None and endpoint.view is not view):
        return None
    return endpoint


def delete_endpoint(
    *, session: Session, endpoint_id: int, actor_id: int | None = None, view: TokenView | None = None
) -> bool:
    """Remove an endpoint and its deliveries (pending ones are never sent). False if there was none
    (with this view, when one is named)."""
    endpoint = get_endpoint(session=session, endpoint_id=endpoint_id, view=view)
    if endpoint is None:
        return False
    # Explicit, not left to ON DELETE CASCADE: SQLite may run with foreign keys off.
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
    session.delete(endpoint)
    record_event(
        session=session,
        actor_id=actor_id,
        action="webhook.delete",
        subject_type="webhook",
        subject_id=endpoint_id,
        details={"url": endpoint.url},
    )
    session.commit()
    return True


def recent_deliveries(*, session: Session, endpoint_id: int, limit: int = 50) -> list[WebhookDelivery]:
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def run_event_type(run: GradingRun) -> str | None:
    """The event a finished run causes, if any: full runs only (pre-checks change no marks), and none
    for a regrade preview's staged run (nothing is published until the lecturer applies it)."""
    if run.kind != RunKind.full or run.staged:
        return None
    if run.status == RunStatus.graded or (run.status == RunStatus.error and run.error_kind == "submission"):
        return SUBMISSION_GRADED
    if run.status == RunStatus.error:
        return SUBMISSION_GRADING_FAILED
    return None


def run_event_payload(
    *,
    event_id: uuid.UUID,
    event_type: str,
    occurred_at: dt.datetime,
    run: GradingRun,
    submission: Submission,
    coursework_code: str,
    student_external_id: str,
    public_url: str,
    student_view: bool = False,
    released: bool = False,
) -> dict[str, Any]:
    """What the course system is told. Totals only: item details (some hidden) stay behind the
    API, which filters them by visibility for whoever fetches ``data.url``.

    ``student_view``: the endpoint's view is the student's; then ``score`` and ``max_score`` are
    null unless the marks are ``released`` to the student (the score includes hidden items), and
    ``visible_score`` / ``visible_max_score`` are the visible items' alone."""
    graded = run.status == RunStatus.graded
    seen = run_outcome(run, student_view=student_view, released=released)
    full = not student_view or released
    return {
        "id": str(event_id),
        "type": event_type,
        "occurred_at": occurred_at.isoformat(),
        "data": {
            "coursework": coursework_code,
            "submission_id": str(submission.id),
            "student_external_id": student_external_id,
            "run_id": run.id,
            "status": run.status.value,
            "error_kind": run.error_kind,
            "score": seen.score if graded else None,  # automatic points, penalties applied
            "max_score": run.auto_max_score if full else None,  # what the automatic points are out of
            "visible_score": seen.visible_score,  # the visible automatic items' points
            "visible_max_score": seen.visible_max_score,
            "received_at": submission.received_at.isoformat(),
            "late_minutes": submission.late_minutes,
            "url": f"{public_url.rstrip('/')}/api/v1/submissions/{submission.id}",
        },
    }


def emit_run_event(
    *,
    session: Session,
    run_id: int,
    now: dt.datetime | None = None,
    public_url: str | None = None,
) -> list[WebhookDelivery]:
    """Add one outbox row per active endpoint subscribed to the event this finished run causes.
    Flushes, never commits: the caller's commit records the result and its event together.
    ``public_url``: where the payload's links point (the caller's settings); None: the settings'
    default, for callers that link nowhere real (tests, tools)."""
    session.flush()  # the caller's UPDATE of the run is seen by the query below either way
    run = session.get(GradingRun, run_id, populate_existing=True)
    event_type = run_event_type(run) if run is not None else None
    if run is None or event_type is None:
        return []
    endpoints = subscribed_endpoints(session=session, event_type=event_type)
    if not endpoints:
        return []
    row = session.execute(
        select(Submission, Coursework.code, Student.external_id)
        .join(Coursework, Coursework.id == Submission.coursework_id)
        .join(Student, Student.id == Submission.student_id)
        .where(Submission.id == run.submission_id)
    ).one()
    if public_url is None:
        public_url = Settings.model_fields["public_url"].default
    now = now or db_now(session)
    event_id = uuid.uuid4()
    submission = row[0]
    released = is_released(
        session=session,
        coursework=session.get_one(Coursework, submission.coursework_id),
        student_id=submission.student_id,
    )
    # One payload per view: a student-view endpoint is told only what the student may see now.
    payloads = {
        view: run_event_payload(
            event_id=event_id,
            event_type=event_type,
            occurred_at=now,
            run=run,
            submission=submission,
            coursework_code=row[1],
            student_external_id=row[2],
            public_url=public_url,
            student_view=view is TokenView.student,
            released=released,
        )
        for view in TokenView
    }
    return queue_deliveries(
        session=session,
        endpoints=endpoints,
        event_id=event_id,
        event_type=event_type,
        payload_for=lambda e: payloads[e.view],
        now=now,
    )


def subscribed_endpoints(*, session: Session, event_type: str) -> list[WebhookEndpoint]:
    """The active endpoints that asked for ``event_type``."""
    return [
        e
        for e in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active))
        if event_type in (e.events or [])
    ]


def queue_deliveries(
    *,
    session: Session,
    endpoints: Sequence[WebhookEndpoint],
    event_id: uuid.UUID,
    event_type: str,
    payload_for: Callable[[WebhookEndpoint], dict[str, Any]],
    now: dt.datetime,
) -> list[WebhookDelivery]:
    """One pending outbox row per endpoint, in the caller's transaction: flushed, never committed, so
    an event is recorded together with what it reports or not at all."""
    deliveries = [
        WebhookDelivery(
            event_id=event_id,
            endpoint_id=e.id,
            event_type=event_type,
            payload=payload_for(e),
            status=DeliveryStatus.pending,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for e in endpoints
    ]
    session.add_all(deliveries)
    session.flush()
    return deliveries
