"""``create_app(settings)``: the FastAPI application, its routers, error shape and startup.

At start the ``courseworks`` table is brought in step with the rubric files. Every error is JSON
``{"detail": "<a sentence>"}``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grader.api.metrics import ApiMetrics
from grader.api.routes import artifacts, courseworks, health, marking, roster, submissions, webhooks
from grader.blobs import BlobStore, LocalBlobStore
from grader.courseworks.sync import load_all, sync_courseworks
from grader.db.engine import make_engine, session_factory
from grader.settings import Settings
from grader.web.app import mount_web

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
MULTIPART_SLACK = 1 << 20  # boundaries and headers around the file
DB_RETRY_AFTER_S = 5  # a restarting database is back within seconds


class BodyLimit:
    """Refuse a request body over the limit while it streams in (chunked uploads included), so an
    oversized upload is never spooled to disk in full."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = f"the upload is larger than the {self.max_bytes // 2**20} MB the service accepts."
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes + MULTIPART_SLACK:
                response = JSONResponse({"detail": too_big}, status_code=413, headers={"Connection": "close"})
                await response(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes + MULTIPART_SLACK:
                    raise HTTPException(413, too_big)
            return message

        await self.app(scope, limited, send)


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for module in (submissions, artifacts, courseworks, marking, roster, webhooks, health):
        router.include_router(module.router)
    return router


def create_app(settings: Settings, *, engine: Engine | None = None, blobs: BlobStore | None = None) -> FastAPI:
    engine = engine or make_engine(settings.database_url)
    sessions = session_factory(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with sessions() as session:
            try:
                rows = sync_courseworks(session=session, courseworks=app.state.courseworks)
            except IntegrityError:  # another replica starting at the same moment inserted them first
                session.rollback()
                rows = sync_courseworks(session=session, courseworks=app.state.courseworks)
        log.info("courseworks: %s", ", ".join(r.code for r in rows) or "none")
        yield

    app = FastAPI(title="grader", version="1", lifespan=lifespan,
                  description="Coursework autograder: submissions, receipts, marks. See DESIGN.md.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.blobs = blobs or LocalBlobStore(settings.blob_dir)
    app.state.courseworks = load_all(settings)
    app.state.metrics = ApiMetrics(sessions)
    app.include_router(api_router())
    app.include_router(health.metrics_router)
    app.add_middleware(BodyLimit, max_bytes=settings.upload_max_mb * 2**20)
    _error_handlers(app)
    mount_web(app)  # the dashboard's pages, at /
    return app


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", "invalid"))
        return JSONResponse({"detail": "the request is not valid: " + "; ".join(problems)}, status_code=422)

    # The database unreachable, restarting or locked: the request's transaction did not commit (or,
    # rarely, committed as the connection died), so the client retries; an upload with its
    # Idempotency-Key, which then gets the receipt of the first if it was recorded after all.
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"])[0]
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, reason)
        return JSONResponse({"detail": "the service's database is unavailable for a moment; try again in a few "
                             "seconds (an upload: send it again with the same Idempotency-Key, which never "
                             "makes two submissions)."},
                            status_code=503, headers={"Retry-After": str(DB_RETRY_AFTER_S)})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "the service failed; try again, and tell the course team if it persists."},
                            status_code=500)
