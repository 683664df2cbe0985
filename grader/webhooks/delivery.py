"""Sending the outbox: ``deliver_due`` posts every pending delivery whose next attempt has come.

A deliverer claims one row at a time with a short lease (the row's ``next_attempt_at`` moves past
the time the attempt can take, and ``attempts`` goes up by one), commits, posts outside any
transaction, then records the outcome under the same ``attempts`` (its fencing token). Concurrent
deliverers skip rows another one is claiming (``FOR UPDATE SKIP LOCKED`` on Postgres; SQLite
serialises writers) and the claim's own guard lets only one UPDATE take a row. A deliverer that
dies mid-post loses only its lease: the row comes due again. So delivery is at least once, and
receivers drop repeats by ``Grader-Event-Id``.

2xx is delivered. Anything else (other statuses, redirects, timeouts, refused connections) is
retried after 30 s, doubling up to an hour, until ``max_attempts``; then the row is failed.

Before each attempt the host is resolved once and every address checked (``EgressPolicy.pin``);
the request goes to the address checked, so a URL that is, or has come to resolve to, an internal
address is failed without a byte sent. What is recorded of a failure is a status code and a short
reason of ours, never the endpoint's reply: the deliveries list would otherwise read internal
pages back to whoever registered the URL.
"""

from __future__ import annotations

import datetime as dt
import http
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.orm import Session

from grader.db.clock import db_now
from grader.db.dml import rowcount
from grader.settings import WEBHOOK_MAX_ATTEMPTS as DEFAULT_MAX_ATTEMPTS  # one default: the settings'
from grader.settings import WEBHOOK_TIMEOUT_S as DEFAULT_TIMEOUT_S
from grader.webhooks.egress import AddressRefused, EgressPolicy, HostUnresolvable
from grader.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from grader.webhooks.sealing import SecretBox, SecretUnreadable
from grader.webhooks.service import WebhookError, check_url
from grader.webhooks.signing import signed_headers

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 30
BACKOFF_MAX_S = 3600
DEFAULT_BATCH = 100  # deliveries per call at most, so one call ends
USER_AGENT = "grader-webhooks/1"


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    attempt: int
    event_id: uuid.UUID
    event_type: str
    payload: dict[str, Any]
    url: str | None  # None: the endpoint is gone or inactive
    secret_sealed: str


@dataclass
class DeliveryReport:
    delivered: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def backoff_s(attempt: int) -> float:
    """The wait after failed attempt number ``attempt`` (1-based)."""
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempt - 1))


def encode(payload: dict[str, Any]) -> bytes:
    """The body: one fixed serialisation, so every attempt of a delivery sends the same bytes."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def deliver_due(
    session_factory: Callable[[], Session],
    http_client: httpx.Client,
    now: dt.datetime | None = None,
    *,
    box: SecretBox,
    egress: EgressPolicy = EgressPolicy(),
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    limit: int = DEFAULT_BATCH,
) -> DeliveryReport:
    """Post what is due, one delivery at a time. ``now`` fixes the clock (tests); otherwise the
    database's. ``box`` opens the endpoints' secrets; ``egress`` says which addresses may be posted
    to (default: public ones only). Never raises for an endpoint's failure; a database failure
    propagates."""
    report = DeliveryReport()
    lease_s = 4 * timeout_s + 30  # connect, write and read may each take timeout_s
    with session_factory() as session:
        report.failed += _give_up_abandoned(session, now or db_now(session), max_attempts)
    for _ in range(limit):
        with session_factory() as session:
            claim = _claim(session, now or db_now(session), lease_s, max_attempts)
        if claim is None:
            break
        code, error, final = _post(http_client, claim, timeout_s, box, egress)
        final = final or claim.attempt >= max_attempts
        with session_factory() as session:
            outcome = _record(session, claim, now or db_now(session), code, error, final)
        if outcome is DeliveryStatus.delivered:
            report.delivered.append(claim.delivery_id)
        elif outcome is DeliveryStatus.failed:
            report.failed.append(claim.delivery_id)
        elif outcome is DeliveryStatus.pending:
            report.retrying.append(claim.delivery_id)
    if report.delivered or report.failed or report.retrying:
        log.info("webhooks: delivered %s, retrying %s, failed %s", report.delivered, report.retrying, report.failed)
    return report


def _due(now: dt.datetime) -> ColumnElement[bool]:
    return and_(WebhookDelivery.status == DeliveryStatus.pending, WebhookDelivery.next_attempt_at <= now)


def _claim(session: Session, now: dt.datetime, lease_s: float, max_attempts: int) -> Claim | None:
    next_id = (
        select(WebhookDelivery.id)
        .where(_due(now), WebhookDelivery.attempts < max_attempts)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(1)
        # Postgres: a row another deliverer is claiming is skipped, not waited for. SQLite ignores
        # this; it serialises writers, and the guard below does the rest.
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    row = session.execute(
        update(WebhookDelivery)
        # The guard makes the claim safe whatever the dialect: only one UPDATE moves a due row.
        .where(WebhookDelivery.id == next_id, _due(now), WebhookDelivery.attempts < max_attempts)
        .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=now + dt.timedelta(seconds=lease_s))
        .returning(
            WebhookDelivery.id,
            WebhookDelivery.attempts,
            WebhookDelivery.endpoint_id,
            WebhookDelivery.event_id,
            WebhookDelivery.event_type,
            WebhookDelivery.payload,
        )
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        session.commit()
        return None
    endpoint = session.get(WebhookEndpoint, row.endpoint_id)
    session.commit()
    live = endpoint if endpoint is not None and endpoint.active else None
    return Claim(
        row.id,
        row.attempts,
        row.event_id,
        row.event_type,
        row.payload,
        live.url if live is not None else None,
        live.secret_sealed if live is not None else "",
    )


def _post(
    client: httpx.Client, claim: Claim, timeout_s: float, box: SecretBox, egress: EgressPolicy
) -> tuple[int | None, str | None, bool]:
    """(status code, error, final): error is None only for a 2xx; final when retrying cannot help."""
    if claim.url is None:
        return None, "the endpoint was removed or deactivated", True
    try:
        check_url(claim.url, egress)  # checked at registration; checked again before anything is sent
        target = egress.pin(claim.url)
        secret = box.open(claim.secret_sealed)
    except (WebhookError, AddressRefused, SecretUnreadable) as exc:
        return None, str(exc), True
    except HostUnresolvable as exc:  # DNS may answer again later
        return None, str(exc), False
    body = encode(claim.payload)
    # The signature's time is the wall clock's: the receiver compares it with its own.
    headers = signed_headers(secret, body, str(claim.event_id), claim.event_type, int(time.time()))
    headers["User-Agent"] = USER_AGENT
    headers["Host"] = target.host_header
    # One connection per request: a pooled connection to this IP may have been opened (and its
    # certificate checked) for another host name.
    headers["Connection"] = "close"
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
    try:
        # Redirects are not followed: a 3xx is a failure the lecturer sees, never a new target.
        with client.stream(
            "POST",
            target.url,
            content=body,
            headers=headers,
            timeout=timeout_s,
            follow_redirects=False,
            extensions=extensions,
        ) as response:
            if 200 <= response.status_code < 300:
                return response.status_code, None, False
            return response.status_code, _status_reason(response.status_code), False
    except httpx.TimeoutException:
        return None, f"no answer within {timeout_s:g} s", False
    except httpx.HTTPError as exc:
        return None, _transport_reason(exc), False


def _status_reason(code: int) -> str:
    """``HTTP 502 Bad Gateway``: the standard phrase, never the endpoint's own words or body."""
    try:
        return f"HTTP {code} {http.HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def _transport_reason(exc: httpx.HTTPError) -> str:
    """A failure before any status, in our words: exception texts can quote the peer's bytes."""
    if isinstance(exc, httpx.ConnectError):
        return "ConnectError: the connection was refused or could not be made"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "RemoteProtocolError: the reply was not valid HTTP"
    return f"{type(exc).__name__}: the request failed"


def _record(
    session: Session, claim: Claim, now: dt.datetime, code: int | None, error: str | None, final: bool
) -> DeliveryStatus | None:
    """Write an attempt's outcome (a failure that is ``final`` is not retried); None when the row
    moved on meanwhile (its endpoint was deleted)."""
    if error is None:
        values: dict[str, Any] = dict(status=DeliveryStatus.delivered, delivered_at=now, last_error=None)
        outcome = DeliveryStatus.delivered
    elif final:
        values = dict(status=DeliveryStatus.failed, last_error=error)
        outcome = DeliveryStatus.failed
    else:
        values = dict(next_attempt_at=now + dt.timedelta(seconds=backoff_s(claim.attempt)), last_error=error)
        outcome = DeliveryStatus.pending
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == claim.delivery_id,
            WebhookDelivery.status == DeliveryStatus.pending,
            WebhookDelivery.attempts == claim.attempt,
        )
        .values(last_status_code=code, **values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return outcome if rowcount(result) == 1 else None


def _give_up_abandoned(session: Session, now: dt.datetime, max_attempts: int) -> list[int]:
    """Fail rows whose last allowed attempt was claimed but never recorded (its deliverer died)."""
    ids = (
        session.execute(
            update(WebhookDelivery)
            .where(_due(now), WebhookDelivery.attempts >= max_attempts)
            .values(
                status=DeliveryStatus.failed,
                last_error="the last attempt was never recorded (its deliverer stopped); not retried",
            )
            .returning(WebhookDelivery.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    session.commit()
    return sorted(ids)
