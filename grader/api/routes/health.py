"""Health (database and broker reachable; no token) and Prometheus metrics.

Metrics name no student, but they tell anyone how busy the service is and how many uploads were
refused, and each scrape queries the gradebook: they need the ``metrics_token`` setting's bearer
token or a staff API token (GTA, lecturer or service account, ``read`` scope), unless the
``metrics_public`` setting opens them on purpose (e.g. behind a scrape-only network).
"""

from __future__ import annotations

import hmac
import os
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from grader.api.responses import ERRORS, error
from grader.http.deps import Require, SessionDep, SettingsDep
from grader.runs.waits import queue_states
from grader.settings import Settings
from grader.users.models import Role
from grader.users.service import authenticate

router = APIRouter(tags=["operations"])
metrics_router = APIRouter(tags=["operations"])
_metrics_bearer = HTTPBearer(auto_error=False, description="the metrics token, or a staff API token")
_staff = Require(Role.gta, Role.lecturer, Role.service, scope="read")


def _broker_ok(settings: Settings) -> tuple[bool, str]:
    url = settings.broker_url
    try:
        if url.startswith("filesystem://"):
            settings.broker_dir.mkdir(parents=True, exist_ok=True)
            ok = os.access(settings.broker_dir, os.W_OK)
            return ok, "ok" if ok else f"{settings.broker_dir} is not writable"
        if url.startswith(("redis://", "rediss://")):
            import redis

            client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
            try:
                client.ping()
            finally:
                client.close()
            return True, "ok"
        from kombu import Connection

        with Connection(url, connect_timeout=1) as conn:
            conn.ensure_connection(max_retries=1)
        return True, "ok"
    except Exception as exc:  # reachability is the question: any failure is "no"
        return False, f"unreachable: {type(exc).__name__}"


@router.get("/health", responses={503: {"description": "the database or the broker is unreachable"}})
def health(session: SessionDep, settings: SettingsDep) -> JSONResponse:
    """The database and the broker reachable (503 if not), and ``queues_without_workers``: the names
    of queues holding runs that no live worker serves (``workers`` says it in words)."""
    stranded: list[str] = []
    try:
        session.execute(text("SELECT 1"))
        db_ok, db_state = True, "ok"
        stranded = [q.queue for q in queue_states(session=session) if q.stranded]
    except Exception as exc:
        db_ok, db_state = False, f"unreachable: {type(exc).__name__}"
    broker_ok, broker_state = _broker_ok(settings)
    ok = db_ok and broker_ok
    # A queue with work and no live worker (a GPU queue with no GPU worker) is reported, but the API
    # itself is up: it stays in rotation (200) and keeps taking submissions.
    workers = f"no live worker for queued work on: {', '.join(stranded)}" if stranded else "ok"
    return JSONResponse(
        {
            "status": "ok" if ok else "degraded",
            "database": db_state,
            "broker": broker_state,
            "workers": workers,
            "queues_without_workers": stranded,
        },
        status_code=200 if ok else 503,
    )


def metrics_reader(
    settings: SettingsDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_metrics_bearer)],
) -> None:
    """Let the scrape through when metrics are public, or the bearer is the metrics token or staff's."""
    if settings.metrics_public:
        return
    unauthorised = HTTPException(
        401,
        "metrics need 'Authorization: Bearer <the metrics token or a staff API token>'.",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if credentials is None:
        raise unauthorised
    given = credentials.credentials.encode("utf-8")
    if settings.metrics_token is not None and hmac.compare_digest(
        given, settings.metrics_token.get_secret_value().encode("utf-8")
    ):
        return
    owner = authenticate(session=session, secret=credentials.credentials)
    if owner is None:
        raise unauthorised
    _staff(owner)  # 403 for a student's token, or a token without the read scope


@metrics_router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(metrics_reader)],
    responses={
        401: error("no token, or not the metrics token nor a valid API token"),
        403: error("a token whose role or scopes may not read metrics"),
        413: ERRORS[413],
    },
)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
