"""Health (database and broker reachable) and Prometheus metrics. Both need no token: they say
nothing about any student."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from grader.api.deps import SessionDep, SettingsDep
from grader.settings import Settings

router = APIRouter(tags=["operations"])
metrics_router = APIRouter(tags=["operations"])


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
    try:
        session.execute(text("SELECT 1"))
        db_ok, db_state = True, "ok"
    except Exception as exc:
        db_ok, db_state = False, f"unreachable: {type(exc).__name__}"
    broker_ok, broker_state = _broker_ok(settings)
    ok = db_ok and broker_ok
    return JSONResponse({"status": "ok" if ok else "degraded", "database": db_state, "broker": broker_state},
                        status_code=200 if ok else 503)


@metrics_router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
