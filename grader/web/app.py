"""``mount_web(app)``: the dashboard's pages on a FastAPI app (``grader.server`` mounts them on the API's).

Every module in ``grader/web/routes/`` that defines ``router`` is included (each helper owns its
own route modules), the static files are served at ``/static``, and the dashboard's errors are
pages, not JSON: not signed in -> a redirect to ``/login`` (401 for fetch/htmx requests),
``WebError`` -> its status with a short page. Pages get security headers; a route that sets its
own Content-Security-Policy (the sandboxed notebook render) keeps it.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grader.web import routes
from grader.web.deps import LoginRequired, WebError, login_url
from grader.web.templating import render

STATIC_DIR = Path(__file__).resolve().parent / "static"
# No inline scripts anywhere: JavaScript lives in /static. Inline styles are allowed (SVG charts).
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
)
API_PATHS = ("/api/", "/docs", "/redoc", "/openapi.json", "/metrics")
# The dashboard's routes that receive a submitted file: the app's body limit gives them the upload cap.
UPLOAD_PATHS = ("/courseworks/{cw}/submissions",)


def wants_json(request: Request) -> bool:
    """A fetch or htmx request, not a page load."""
    accept = request.headers.get("accept", "")
    return (
        "HX-Request" in request.headers
        or request.headers.get("X-Requested-With") == "fetch"
        or ("application/json" in accept and "text/html" not in accept)
    )


class PageHeaders:
    """Security headers on every dashboard response (not on the JSON API and its docs)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(API_PATHS):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                defaults = {
                    b"content-security-policy": PAGE_CSP.encode(),
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"same-origin",
                    b"cache-control": b"no-store",
                }
                headers += [(k, v) for k, v in defaults.items() if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def route_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(routes.__path__, routes.__name__ + "."))


def mount_web(app: FastAPI) -> None:
    for name in route_modules():
        module = importlib.import_module(name)
        if hasattr(module, "router"):
            app.include_router(module.router, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(PageHeaders)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if wants_json(request):
            return JSONResponse(
                {"detail": "sign in first."}, status_code=401, headers={"HX-Redirect": login_url(exc.next_url)}
            )
        return RedirectResponse(login_url(exc.next_url), status_code=303)

    @app.exception_handler(WebError)
    async def web_error(request: Request, exc: WebError) -> Response:
        if wants_json(request):
            return JSONResponse({"detail": exc.message}, status_code=exc.status)
        return render(request, "error.html", {"status": exc.status, "message": exc.message}, status=exc.status)
