"""The service's secret: a placeholder or weak GRADER_SECRET_KEY is a settings error with a clear
message (never echoing the value) outside an explicit development mode; there is no default
secret anyone can read in the source."""

from __future__ import annotations

import secrets

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from grader.cli import main
from grader.settings import Settings, get_settings


@pytest.mark.parametrize(
    "value",
    [
        "dev-only-secret",
        "changeme",
        "secret",
        "development",
        "password",
        "...",
        "CHANGE-ME-please-before-deploying-this-thing",
        "your-secret-key-goes-here-0123456789",
        "tooshort1234",
        "a" * 64,
        "abababababababababababababababababab",
    ],
)
def test_placeholder_and_weak_secrets_are_refused(value: str):
    with pytest.raises(ValidationError) as caught:
        Settings(secret_key=value)
    message = str(caught.value)
    assert "GRADER_SECRET_KEY" in message and "refusing to start" in message and "GRADER_DEV_MODE" in message
    # A refused secret is never echoed to a log (short words like "secret" are in the advice itself).
    assert "input_value" not in str(caught.value) and (len(value) < 12 or value not in str(caught.value))


def test_the_old_default_is_refused_from_the_environment(monkeypatch):
    monkeypatch.setenv("GRADER_SECRET_KEY", "dev-only-secret")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("GRADER_DEV_MODE", "1")  # an explicit development mode only
    assert Settings().secret_key == "dev-only-secret"


def test_no_secret_is_built_in_and_a_random_one_is_accepted(monkeypatch):
    monkeypatch.delenv("GRADER_SECRET_KEY", raising=False)
    assert Settings().secret_key is None  # nothing in the source to compute anything back with
    good = secrets.token_urlsafe(32)
    assert Settings(secret_key=good).secret_key == good


def test_every_command_refuses_a_placeholder_with_the_reason(monkeypatch):
    monkeypatch.setenv("GRADER_SECRET_KEY", "changeme")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "invalid settings: GRADER_SECRET_KEY is a placeholder: refusing to start" in result.output
