"""Fixtures and checks of the whole suite (tests/README.md says what lives where).

The kits at tests/ (``pg_database``, ``cw1_submissions`` ...) are importable from every folder through
pyproject's ``pythonpath``; a folder's own kits beside its tests. Loaded here for every test: the
sandbox-marker checks (``sandbox_markers``) and pytester, which proves them."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester", "sandbox_markers"]


@pytest.fixture
def woken(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Wake-ups the app sent (instead of a broker): the test plays the worker itself."""
    from workers import dispatch

    calls: list[tuple[int, str]] = []
    monkeypatch.setattr(dispatch, "wake", lambda run_id, queue: calls.append((run_id, queue)))
    return calls
