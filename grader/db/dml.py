"""Typed access to what an UPDATE or DELETE statement reports."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, Result


def rowcount(result: Result[*tuple[Any, ...]]) -> int:
    """The rows an UPDATE or DELETE matched. ``Session.execute`` is typed to return a plain
    ``Result``; for these statements (without RETURNING) it is always a ``CursorResult``."""
    assert isinstance(result, CursorResult), type(result)
    return result.rowcount
