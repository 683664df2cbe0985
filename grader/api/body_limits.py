"""``BodyLimits``: an ASGI middleware that caps every request body while it streams in.

The upload routes may receive ``upload_max_bytes`` (plus room for the multipart framing); every
other route ``default_max_bytes``. A declared ``Content-Length`` over the limit is refused before
a byte of the body is read; a body without one (chunked) is counted as it arrives and refused the
moment it passes the limit, so no route ever spools more than its limit to memory or disk.

Starlette's own ``RequestBodyLimitMiddleware`` does the counting too, but answers in plain text
("Content Too Large") where this API promises ``{"detail": "<a sentence>"}`` naming the limit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPART_SLACK = 1 << 20  # boundaries and part headers around the uploaded file


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit: the app's error handler
    turns it into the 413 reply like any ``HTTPException``."""

    def __init__(self, detail: str):
        super().__init__(413, detail, headers={"Connection": "close"})


def describe_size(n_bytes: int) -> str:
    """``1 MB``, ``200 MB`` or ``64 KB``: a limit as a student reads it."""
    if n_bytes >= 2**20 and n_bytes % 2**20 == 0:
        return f"{n_bytes // 2**20} MB"
    return f"{max(1, n_bytes // 1024)} KB"


class BodyLimits:
    """Per-request body caps: ``upload_paths`` (POST; Starlette path templates such as
    ``/courseworks/{cw}/submissions``) get the upload limit, everything else the default."""

    def __init__(self, app: ASGIApp, *, default_max_bytes: int, upload_max_bytes: int, upload_paths: Sequence[str]):
        self.app = app
        self.default_max_bytes = default_max_bytes
        self.upload_max_bytes = upload_max_bytes
        self.upload_patterns: list[re.Pattern[str]] = [compile_path(p)[0] for p in upload_paths]

    def is_upload(self, scope: Scope) -> bool:
        return scope.get("method") == "POST" and any(p.match(scope["path"]) for p in self.upload_patterns)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.is_upload(scope):
            limit = self.upload_max_bytes + MULTIPART_SLACK
            too_big = f"the upload is larger than the {describe_size(self.upload_max_bytes)} the service accepts."
        else:
            limit = self.default_max_bytes
            too_big = f"the request body is larger than the {describe_size(limit)} this address accepts."
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            # Answer at once: the body is never read, and the connection is not reused for it.
            response = JSONResponse({"detail": too_big}, status_code=413, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(too_big)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
