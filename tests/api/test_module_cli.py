"""`grader exam import` and `grader module export`: the same rules and bytes as the API."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from module_kit import DEADLINE, add_student, grade, lecturer, module_rubrics, submit
from sqlalchemy import select

from grader.cli import main
from grader.marking.module_models import ExamMark
from grader.rubrics.loader import load_coursework
from grader.settings import get_settings


@pytest.fixture(scope="module")
def rubrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return module_rubrics(tmp_path_factory.mktemp("module_cli_rubrics"))


@pytest.fixture
def cli_env(monkeypatch, api_pg_url, settings):
    monkeypatch.setenv("GRADER_DATABASE_URL", api_pg_url)
    monkeypatch.setenv("GRADER_RUBRICS_DIR", str(settings.rubrics_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_exam_import_and_module_export(client, sessions, settings, cli_env, tmp_path):
    with sessions() as session:
        _, lee = lecturer(session)
        ada = add_student(session, "s1", "Ada")
        add_student(session, "s2", "Ben")
        sub = submit(session, ada, "cw1", DEADLINE)
        grade(
            session,
            load_coursework("cw1", settings).rubric,
            sub,
            {"test_one.py::test_one": 1.0, "test_one.py::test_lib": 1.0},
        )

    bad = tmp_path / "bad.csv"
    bad.write_text("external_id,mark\ns1,70\nzz,50\ns2,abc\n")
    r = CliRunner().invoke(main, ["exam", "import", str(bad)])
    assert r.exit_code == 1, r.output
    assert "nothing was stored" in r.output and "line 3: zz is not on the roster" in r.output
    assert "line 4: s2: the mark 'abc'" in r.output
    with sessions() as session:
        assert session.scalars(select(ExamMark)).all() == []

    good = tmp_path / "exam.csv"
    good.write_text("external_id,mark\ns1,70\ns2,41\n")
    r = CliRunner().invoke(main, ["exam", "import", str(good)])
    assert r.exit_code == 0, r.output
    assert "imported 2 exam marks" in r.output
    with sessions() as session:
        assert sorted(m.mark for m in session.scalars(select(ExamMark))) == [41, 70]

    for flag, route in (([], "registry.csv"), (["--items"], "items.csv")):
        api = client.get(f"/api/v1/module/{route}", headers=lee)
        assert api.status_code == 200, api.text
        r = CliRunner().invoke(main, ["module", "export", *flag])
        assert r.exit_code == 0, r.output
        assert r.stdout_bytes == api.content
    # Ada: CW1 one 10 + essay unmarked 0 = 10/20 = 50 % (the lib check passed), no CW2:
    # coursework 0.4 x 50 = 20; module 0.5 x 20 + 0.5 x 70 = 45.
    registry = client.get("/api/v1/module/registry.csv", headers=lee).text
    ada_row = next(csv.DictReader(io.StringIO(registry)))
    assert (ada_row["cw1_percent"], ada_row["coursework_mark"], ada_row["module_mark"], ada_row["complete"]) == (
        "50",
        "20",
        "45",
        "no",  # the essay is still unmarked
    )
