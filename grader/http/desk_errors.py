"""The HTTP status of each refusal of the marker's desk (``grader.marking.desk``), one table for the
JSON API and the dashboard, so the same fault is the same status whichever a marker uses."""

from __future__ import annotations

from grader.marking import desk

STATUS: dict[type[desk.DeskError], int] = {
    desk.NotOnDesk: 404,
    desk.RoleRefused: 403,
    desk.ScoreOutOfRange: 422,
    desk.MarkChanged: 409,
    desk.PenaltyChanged: 409,
}


def desk_status(exc: desk.DeskError) -> int:
    return next((status for kind, status in STATUS.items() if isinstance(exc, kind)), 400)
