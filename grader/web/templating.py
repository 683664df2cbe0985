"""Rendering pages: one Jinja2 environment (autoescaped), and the context every page gets:
the signed-in ``user`` (or None), its ``csrf_token``, and the ``nav`` for its role."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from grader.users.models import Role

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
LONDON = ZoneInfo("Europe/London")

# (label, path) per role; a coursework code is filled in by the pages that know it.
NAV: dict[Role, list[tuple[str, str]]] = {
    Role.student: [("My courseworks", "/")],
    Role.gta: [("Courseworks", "/")],
    Role.lecturer: [("Courseworks", "/")],
}


def _when(value: dt.datetime | None, tz: str = "Europe/London") -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime("%a %d %b %Y, %H:%M:%S %Z")


def _points(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}".rstrip("0").rstrip(".")


TEMPLATES.env.filters["when"] = _when
TEMPLATES.env.filters["points"] = _points


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200, user: Any = None
) -> HTMLResponse:
    user = user if user is not None else getattr(request.state, "web_user", None)
    ctx = {
        "user": user,
        "csrf_token": user.csrf_token if user is not None else "",
        "nav": NAV.get(user.role, []) if user is not None else [],
        **(context or {}),
    }
    return TEMPLATES.TemplateResponse(request, name, ctx, status_code=status)
