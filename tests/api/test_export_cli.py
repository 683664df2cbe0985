"""`grader export`: the same bytes as GET /courseworks/{cw}/export.csv, and clear errors."""

from __future__ import annotations

import pytest
from api_kit import grade, notebook, upload
from click.testing import CliRunner

from grader.cli import main
from grader.rubrics.loader import load_coursework
from grader.settings import get_settings


@pytest.fixture
def cli_env(monkeypatch, api_pg_url, settings):
    monkeypatch.setenv("GRADER_DATABASE_URL", api_pg_url)
    monkeypatch.setenv("GRADER_RUBRICS_DIR", str(settings.rubrics_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_export_is_the_api_csv_byte_for_byte(client, people, settings, sessions, cli_env, tmp_path):
    sub = upload(client, people.headers["student"], notebook()).json()
    grade(sessions, load_coursework("cwa", settings).rubric, sub["id"])
    upload(client, people.headers["other"], notebook("print('pending')"))  # queued, never graded
    api = client.get("/api/v1/courseworks/cwa/export.csv", headers=people.headers["lecturer"])
    assert api.status_code == 200, api.text
    assert api.content.count(b"\r\n") == 4  # header, graded s1, pending s2, non-submitter s3

    r = CliRunner().invoke(main, ["export", "cwa"])
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes == api.content
    out = tmp_path / "marks.csv"
    r = CliRunner().invoke(main, ["export", "cwa", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == api.content


def test_export_of_an_unknown_coursework_is_a_usage_error(client, cli_env, tmp_path):
    out = tmp_path / "marks.csv"
    r = CliRunner().invoke(main, ["export", "nope", "--out", str(out)])
    assert r.exit_code == 2
    assert "no coursework 'nope'" in r.output and "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert not out.exists()


def test_export_into_a_missing_folder_is_a_clear_error(client, cli_env, tmp_path):
    r = CliRunner().invoke(main, ["export", "cwa", "--out", str(tmp_path / "no" / "marks.csv")])
    assert r.exit_code == 1
    assert "cannot write" in r.output and "Traceback" not in r.output
