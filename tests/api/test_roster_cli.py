"""`grader roster import|list|withdraw|reinstate` against the API's gradebook."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from grader.audit.models import AuditEvent
from grader.cli import main
from grader.roster.models import Student
from grader.settings import get_settings


@pytest.fixture
def cli(client, people, api_pg_url, monkeypatch):
    monkeypatch.setenv("GRADER_DATABASE_URL", api_pg_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def listed(cli) -> dict[str, dict]:
    r = cli.invoke(main, ["roster", "list", "--json"])
    assert r.exit_code == 0, r.output
    return {row["external_id"]: row for row in map(json.loads, r.output.splitlines())}


def test_import_withdraw_and_reinstate(cli, tmp_path, sessions):
    good = tmp_path / "roster.csv"
    good.write_text("\ufeffExternal_ID,Name,Email\nr7,Rae Seven,rae@example.ac.uk\nr8,Ray Eight,\n", encoding="utf-8")
    r = cli.invoke(main, ["roster", "import", str(good), "--by", "lee"])
    assert r.exit_code == 0 and "2 new" in r.output, r.output
    assert listed(cli)["r7"] == {
        "external_id": "r7",
        "name": "Rae Seven",
        "email": "rae@example.ac.uk",
        "withdrawn_at": None,
    }

    r = cli.invoke(
        main, ["roster", "withdraw", "r7", "--on", "2026-03-02", "--reason", "left the course", "--by", "lee"]
    )
    assert r.exit_code == 0 and "withdrawn on 2026-03-02T00:00:00+00:00" in r.output, r.output
    assert listed(cli)["r7"]["withdrawn_at"] == "2026-03-02T00:00:00+00:00"
    # An import of the registry's list again does not enrol them behind the lecturer's back.
    r = cli.invoke(main, ["roster", "import", str(good)])
    assert r.exit_code == 0 and "still withdrawn (reinstate them to enrol them again): r7" in r.output, r.output
    assert cli.invoke(main, ["roster", "reinstate", "r7"]).exit_code == 0
    assert listed(cli)["r7"]["withdrawn_at"] is None

    assert cli.invoke(main, ["roster", "withdraw", "nobody"]).exit_code == 2
    assert cli.invoke(main, ["roster", "withdraw", "r8", "--on", "2999-01-01"]).exit_code == 2  # in the future
    assert cli.invoke(main, ["roster", "withdraw", "r8", "--by", "nobody"]).exit_code == 2
    assert listed(cli)["r8"]["withdrawn_at"] is None  # none of the refusals changed anything
    with sessions() as session:
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("roster.%"))))
    assert actions == ["roster.import", "roster.withdraw", "roster.import", "roster.reinstate"]


def test_a_bad_file_stores_nothing_and_names_every_bad_line(cli, tmp_path, sessions):
    bad = tmp_path / "bad.csv"
    bad.write_text("external_id,name,email\nr9,Ok Nine,\nr9,Twice,\n,No Id,\nr10,,\nr11,Eleven,not-an-address\n")
    r = cli.invoke(main, ["roster", "import", str(bad)])
    assert r.exit_code == 1 and "nothing was stored" in r.output, r.output
    for line in ("line 3:", "line 4:", "line 5:", "line 6:"):
        assert line in r.output
    assert "line 2:" not in r.output and "not already on line 2" in r.output  # the twice-given id
    no_header = tmp_path / "no_header.csv"
    no_header.write_text("id,fullname\nr9,Nine\n")
    r = cli.invoke(main, ["roster", "import", str(no_header)])
    assert r.exit_code == 1 and "external_id, name" in r.output
    with sessions() as session:
        assert session.scalars(select(Student).where(Student.external_id.in_(["r9", "r10", "r11"]))).all() == []
