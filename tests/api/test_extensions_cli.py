"""`grader extensions grant|revoke|waive|import|list` against the API's gradebook."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from grader.audit.models import AuditEvent
from grader.cli import main
from grader.settings import get_settings


@pytest.fixture
def cli(client, people, api_pg_url, monkeypatch):
    monkeypatch.setenv("GRADER_DATABASE_URL", api_pg_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_grant_list_revoke_and_waive(cli, sessions):
    r = cli.invoke(
        main, ["extensions", "grant", "s1", "-c", "cwa", "--deadline", "+2 days", "--reason", "flu", "--by", "lee"]
    )
    assert r.exit_code == 0, r.output
    assert "2099-01-17T12:00:00+00:00" in r.output
    r = cli.invoke(main, ["extensions", "waive", "s1", "-c", "cwa", "--reason", "hospital"])
    assert r.exit_code == 0, r.output
    r = cli.invoke(main, ["extensions", "list", "-c", "cwa", "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert rows == [
        {
            "external_id": "s1",
            "deadline": "2099-01-17T12:00:00+00:00",
            "extension_reason": "flu",
            "penalty_waived": True,
            "mitigation_reason": "hospital",
        }
    ]
    assert cli.invoke(main, ["extensions", "revoke", "s1", "-c", "cwa"]).exit_code == 0
    assert cli.invoke(main, ["extensions", "revoke", "s1", "-c", "cwa"]).exit_code == 2  # none left
    assert cli.invoke(main, ["extensions", "waive", "s1", "-c", "cwa", "--undo"]).exit_code == 0
    assert cli.invoke(main, ["extensions", "list", "-c", "cwa"]).output == ""
    bad = cli.invoke(main, ["extensions", "grant", "s1", "-c", "cwa", "--deadline", "2099-03-29 01:30"])
    assert bad.exit_code == 2 and "does not exist" in bad.output
    assert cli.invoke(main, ["extensions", "grant", "s9", "-c", "cwa", "--deadline", "+1"]).exit_code == 2
    with sessions() as session:
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions[-4:] == ["extension.grant", "mitigation.record", "extension.revoke", "mitigation.withdraw"]


def test_import_is_all_or_nothing(cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("external_id,coursework,deadline,reason\ns1,cwa,+60,ok\ns9,cwa,+60,who\n")
    r = cli.invoke(main, ["extensions", "import", str(bad)])
    assert r.exit_code == 1 and "line 3" in r.output and "nothing was stored" in r.output
    assert cli.invoke(main, ["extensions", "list", "-c", "cwa"]).output == ""
    good = tmp_path / "good.csv"
    good.write_text("s1,cwa,+60,ok\ns2,cwa,2099-01-16 09:00,dentist\n")
    r = cli.invoke(main, ["extensions", "import", str(good)])
    assert r.exit_code == 0 and "granted 2" in r.output, r.output
    assert len(cli.invoke(main, ["extensions", "list", "-c", "cwa"]).output.splitlines()) == 2
