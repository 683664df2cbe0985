"""``create_app(settings)``: the JSON API's FastAPI application, its routers, error shape and startup.

At start the ``courseworks`` table is brought in step with the rubric files. Every error is JSON
``{"detail": "<a sentence>"}``. This is the API alone; ``grader.server`` adds the dashboard to it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from grader.api.body_limits import BodyLimits
from grader.api.metrics import ApiMetrics
from grader.api.routes import artifacts, courseworks, health, marking, module_marks, roster, submissions, webhooks
from grader.api.routes import cate as cate_routes
from grader.api.routes import extensions as extension_routes
from grader.api.routes import queries as query_routes
from grader.api.routes.regrade_previews import router as regrade_previews_router
from grader.api.routes.similarity import router as similarity_router
from grader.blobs import BlobStore, LocalBlobStore
from grader.courseworks.sync import load_all, sync_courseworks
from grader.db.engine import make_engine, session_factory
from grader.settings import Settings
from grader.submissions.run_queue import NoWakeUps, RunQueue
from grader.users.password_checks import PasswordCheckGate

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
DB_RETRY_AFTER_S = 5  # a restarting database is back within seconds
# The API's route that receives a submitted file: it gets settings.upload_max_mb, every other route
# settings.request_max_kb. An app that adds more upload routes (the dashboard's form) names them too.
UPLOAD_PATHS = (f"{API_PREFIX}/courseworks/{{cw}}/submissions",)
TOO_DEEP = "the request is not valid: its JSON is nested too deeply."


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for module in (submissions, artifacts, courseworks, marking, roster, webhooks, health, module_marks):
        router.include_router(module.router)
    router.include_router(extension_routes.router)
    router.include_router(regrade_previews_router)
    router.include_router(similarity_router)
    router.include_router(query_routes.router)
    router.include_router(cate_routes.router)  # CATe and LabTS: lookup by reference, feedback JSON
    return router


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    blobs: BlobStore | None = None,
    run_queue: RunQueue | None = None,
    upload_paths: tuple[str, ...] = UPLOAD_PATHS,
) -> FastAPI:
    """``run_queue`` wakes workers for the runs the app queues (the caller wires the worker side
    in); without one, queued runs wait for the sweeper."""
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

    app = FastAPI(
        title="grader",
        version="1",
        lifespan=lifespan,
        description="Coursework autograder: submissions, receipts, marks. "
        "See docs/architecture.md and docs/security.md.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.blobs = blobs or LocalBlobStore(settings.blob_dir)
    app.state.run_queue = run_queue if run_queue is not None else NoWakeUps()  # a RunQueue may be falsy
    app.state.courseworks = load_all(settings)
    app.state.metrics = ApiMetrics(sessions)
    app.include_router(api_router())
    app.include_router(health.metrics_router)
    app.state.password_checks = PasswordCheckGate(settings.login_hashes_at_once, settings.login_hash_wait_s)
    app.add_middleware(
        BodyLimits,
        default_max_bytes=settings.request_max_kb * 1024,
        upload_max_bytes=settings.upload_max_mb * 2**20,
        upload_paths=upload_paths,
    )
    _error_handlers(app)
    return app


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, RecursionError):  # FastAPI's "error parsing the body" around it
            return JSONResponse({"detail": TOO_DEEP}, status_code=422)
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
        return JSONResponse(
            {
                "detail": "the service's database is unavailable for a moment; try again in a few "
                "seconds (an upload: send it again with the same Idempotency-Key, which never "
                "makes two submissions)."
            },
            status_code=503,
            headers={"Retry-After": str(DB_RETRY_AFTER_S)},
        )

    # json.loads gives up on JSON nested past Python's recursion limit: the request's fault, not ours.
    @app.exception_handler(RecursionError)
    async def nested_too_deeply(request: Request, exc: RecursionError) -> JSONResponse:
        log.warning("RecursionError on %s %s (JSON nested too deeply?)", request.method, request.url.path)
        return JSONResponse({"detail": TOO_DEEP}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": "the service failed; try again, and tell the course team if it persists."}, status_code=500
        )
