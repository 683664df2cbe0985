"""`grader users add` and `grader token create`: the printed token works against the API."""

from __future__ import annotations

from api_kit import notebook, upload
from click.testing import CliRunner

from grader.cli import main
from grader.settings import get_settings


def test_users_add_and_token_create(client, sessions, api_pg_url, monkeypatch):
    monkeypatch.setenv("GRADER_DATABASE_URL", api_pg_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(main, ["users", "add", "dora", "--role", "student", "--name", "Dora", "--external-id", "s77"])
        assert r.exit_code == 0, r.output
        assert runner.invoke(main, ["users", "add", "dora", "--role", "student"]).exit_code == 2  # exists
        r = runner.invoke(main, ["token", "create", "dora", "--scope", "submit", "--scope", "read"])
        assert r.exit_code == 0, r.output
        secret = r.stdout.strip().splitlines()[0]
        assert secret.startswith("grd_")
        assert runner.invoke(main, ["token", "create", "dora", "--scope", "root"]).exit_code == 2
    finally:
        get_settings.cache_clear()
    receipt = upload(client, {"Authorization": f"Bearer {secret}"}, notebook())
    assert receipt.status_code == 201, receipt.text
