"""Error replies every route may give, for the OpenAPI document. Every error body is
``{"detail": "<a sentence>"}`` (see ``app._error_handlers``)."""

ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "bad headers"},
    401: {"description": "no token, or a token that is not valid"},
    403: {"description": "your role or your token's scopes do not allow this"},
    404: {"description": "no such coursework, student or submission (or not yours)"},
}
