"""Error replies for the OpenAPI document. Every error body is ``{"detail": "<a sentence>"}``
(``ErrorRead``; see ``app._error_handlers``), 422 included: FastAPI's default 422 (a list of
validation errors) is replaced, as the app answers a sentence there too. 413 is every route's:
``app.BodyLimit`` refuses any body past the upload limit before a route sees it."""

from typing import Any

from grader.api.schemas.errors import ErrorRead


def error(description: str) -> dict[str, Any]:
    """A declared error reply: its meaning, and the ``{"detail": ...}`` body."""
    return {"model": ErrorRead, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: error("bad headers"),
    401: error("no token, or a token that is not valid"),
    403: error("your role or your token's scopes do not allow this"),
    404: error("no such coursework, student or submission (or not yours)"),
    413: error("the request body is larger than the service accepts (app.BodyLimit)"),
    422: error("the request is not valid: which field, and why"),
}
