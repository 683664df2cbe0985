"""The module's marks against a small cohort whose marks are worked out by hand below: on time,
late, extended, overridden, penalised, non-submitting and withdrawn students. The API's JSON, the
lecturer's page, the registry file, the per-item file and the coursework export must all give the
hand numbers (one data path: ``grader.marking.cohort`` over the overview's rows).

CW1: 20 points (auto "one" 10, manual "essay" 10, penalty "lib" -2), weight 0.4.
CW2: 50 points (auto "two" 30, manual "report" 20), weight 0.6.
Late policy: every started day late loses 10 % of the mark earned. Module: 50 % coursework, 50 % exam.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest
from module_kit import (
    DEADLINE,
    PASSWORD,
    add_student,
    grade,
    lecturer,
    mark,
    module_rubrics,
    sign_in,
    submit,
    token_for,
)
from sqlalchemy import select

from grader.audit.models import AuditEvent
from grader.courseworks.models import Coursework
from grader.courseworks.service import grant_extension
from grader.marking.module_models import ExamMark
from grader.roster.models import Student
from grader.rubrics.loader import load_coursework
from grader.users.models import Role
from grader.users.passwords import set_password
from grader.users.service import create_user

MIN = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)
PASS = {"test_one.py::test_lib": 1.0}  # the library-layers check passes: no penalty

# external id -> the hand-worked numbers (percentages per coursework, marks 0..100)
HAND = {
    # Ada, on time. CW1: one 0.8 x 10 = 8, essay 7 -> 15/20 = 75 %. CW2: two 0.9 x 30 = 27, report 15
    # -> 42/50 = 84 %. Coursework 0.4 x 75 + 0.6 x 84 = 30 + 50.4 = 80.4. Exam 70.
    # Module 0.5 x 80.4 + 0.5 x 70 = 40.2 + 35 = 75.2 -> final 75.
    "s1": dict(cw1=(15, 75, 30), cw2=(42, 84, 50.4), cw=80.4, exam=70, module=75.2, final=75),
    # Ben, CW1 30 minutes late: 1 started day, x 0.9. one 10 + essay 10 = 20 x 0.9 = 18/20 = 90 %.
    # CW2 on time: two 0.5 x 30 = 15, report 10 -> 25/50 = 50 %. Coursework 36 + 30 = 66.
    # Exam 55.5. Module 33 + 27.75 = 60.75 -> final 61 (half up from 60.75).
    "s2": dict(cw1=(18, 90, 36), cw2=(25, 50, 30), cw=66, exam=55.5, module=60.75, final=61),
    # Cleo, CW1 two days after the deadline with an extension to three days after: on time (without
    # it: 2 started days, x 0.8). one 0.6 x 10 = 6, essay 6 -> 12/20 = 60 %. No CW2: counts 0.
    # Coursework 0.4 x 60 + 0 = 24. Exam 40. Module 12 + 20 = 32 -> final 32.
    "s3": dict(cw1=(12, 60, 24), cw2=(None, None, 0), cw=24, exam=40, module=32, final=32),
    # Dev, overridden: the run gives one 0.3 x 10 = 3, a marker overrides it to 9; essay 8 -> 17/20
    # = 85 %. CW2: two 30, report 20 -> 50/50 = 100 %. Coursework 34 + 60 = 94. Exam 100.
    # Module 47 + 50 = 97 -> final 97.
    "s4": dict(cw1=(17, 85, 34), cw2=(50, 100, 60), cw=94, exam=100, module=97, final=97),
    # Eve, penalised: one 10, essay 5, the run applies "lib" (-2) -> 13/20 = 65 %. CW2: two 0.7 x 30
    # = 21, report 12 -> 33/50 = 66 %. Coursework 0.4 x 65 + 0.6 x 66 = 26 + 39.6 = 65.6.
    # Exam 63.4. Module 32.8 + 31.7 = 64.5 -> final 65 (half up).
    "s5": dict(cw1=(13, 65, 26), cw2=(33, 66, 39.6), cw=65.6, exam=63.4, module=64.5, final=65),
    # Finn submits nothing: coursework 0. Exam 35. Module 0 + 17.5 = 17.5 -> final 18 (half up).
    "s6": dict(cw1=(None, None, 0), cw2=(None, None, 0), cw=0, exam=35, module=17.5, final=18),
    # Gus submitted CW1 (graded 10/20), then withdrew: listed as withdrawn, no coursework or module mark.
    "s7": dict(cw1=(None, None, None), cw2=(None, None, None), cw=None, exam=None, module=None, final=None),
}


@pytest.fixture(scope="module")
def rubrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return module_rubrics(tmp_path_factory.mktemp("module_rubrics"))


@pytest.fixture
def cohort(client, sessions, settings):
    """The cohort above, marked; returns the lecturer's API headers."""
    cw1 = load_coursework("cw1", settings).rubric
    cw2 = load_coursework("cw2", settings).rubric
    with sessions() as session:
        lee_id, lee = lecturer(session)
        s = {
            ext: add_student(session, ext, name)
            for ext, name in [
                ("s1", "Ada"),
                ("s2", "Ben"),
                ("s3", "Cleo"),
                ("s4", "Dev"),
                ("s5", "Eve"),
                ("s6", "Finn"),
                ("s7", "Gus"),
            ]
        }
        subs = {}
        before = DEADLINE - 60 * MIN
        subs["s1", "cw1"] = submit(session, s["s1"], "cw1", before)
        grade(session, cw1, subs["s1", "cw1"], {"test_one.py::test_one": 0.8, **PASS})
        subs["s1", "cw2"] = submit(session, s["s1"], "cw2", before)
        grade(session, cw2, subs["s1", "cw2"], {"test_two.py::test_two": 0.9})

        subs["s2", "cw1"] = submit(session, s["s2"], "cw1", DEADLINE + 30 * MIN)
        grade(session, cw1, subs["s2", "cw1"], {"test_one.py::test_one": 1.0, **PASS})
        subs["s2", "cw2"] = submit(session, s["s2"], "cw2", before)
        grade(session, cw2, subs["s2", "cw2"], {"test_two.py::test_two": 0.5})

        subs["s3", "cw1"] = submit(session, s["s3"], "cw1", DEADLINE + 2 * DAY)
        assert subs["s3", "cw1"].late_minutes == 2 * 24 * 60  # late, until the extension below
        cw1_id = session.scalars(select(Coursework.id).where(Coursework.code == "cw1")).one()
        grant_extension(
            session=session,
            student_id=s["s3"].id,
            coursework_id=cw1_id,
            deadline=DEADLINE + 3 * DAY,
            granted_by_id=lee_id,
            reason="illness",
        )
        grade(session, cw1, subs["s3", "cw1"], {"test_one.py::test_one": 0.6, **PASS})

        subs["s4", "cw1"] = submit(session, s["s4"], "cw1", before)
        grade(session, cw1, subs["s4", "cw1"], {"test_one.py::test_one": 0.3, **PASS})
        subs["s4", "cw2"] = submit(session, s["s4"], "cw2", before)
        grade(session, cw2, subs["s4", "cw2"], {"test_two.py::test_two": 1.0})

        subs["s5", "cw1"] = submit(session, s["s5"], "cw1", before)
        grade(session, cw1, subs["s5", "cw1"], {"test_one.py::test_one": 1.0, "test_one.py::test_lib": 0.0})
        subs["s5", "cw2"] = submit(session, s["s5"], "cw2", before)
        grade(session, cw2, subs["s5", "cw2"], {"test_two.py::test_two": 0.7})

        subs["s7", "cw1"] = submit(session, s["s7"], "cw1", before)
        grade(session, cw1, subs["s7", "cw1"], {"test_one.py::test_one": 1.0, **PASS})

    for (ext, code), item, score in [
        (("s1", "cw1"), "essay", 7),
        (("s1", "cw2"), "report", 15),
        (("s2", "cw1"), "essay", 10),
        (("s2", "cw2"), "report", 10),
        (("s3", "cw1"), "essay", 6),
        (("s4", "cw1"), "one", 9),  # the override
        (("s4", "cw1"), "essay", 8),
        (("s4", "cw2"), "report", 20),
        (("s5", "cw1"), "essay", 5),
        (("s5", "cw2"), "report", 12),
        (("s7", "cw1"), "essay", 0),
    ]:
        mark(client, lee, subs[ext, code], item, score)

    with sessions() as session:
        gus = session.scalars(select(Student).where(Student.external_id == "s7")).one()
        gus.withdrawn_at = DEADLINE + 10 * DAY
        session.commit()

    exams = "external_id,name,mark\ns1,Ada,70\ns2,Ben,55.5\ns3,Cleo,40\ns4,Dev,100\ns5,Eve,63.4\ns6,Finn,35\n"
    r = client.post("/api/v1/module/exam-marks", headers=lee, json={"csv": exams, "source": "exam.csv"})
    assert r.status_code == 200, r.text
    assert r.json() == {"rows": 6, "created": 6, "updated": 0, "unchanged": 0}
    return lee


def _num(text: str) -> float | None:
    return None if text == "" else float(text)


def test_api_page_registry_items_and_export_all_give_the_hand_numbers(client, cohort):
    lee = cohort
    # The API's JSON.
    r = client.get("/api/v1/module/marks", headers=lee)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["weights"] == {"cw1": 0.4, "cw2": 0.6} and body["problem"] is None
    assert "half up" in body["rounding"]
    api = {s["external_id"]: s for s in body["students"]}
    assert list(api) == list(HAND)  # roster order, non-submitter and withdrawn included
    for ext, hand in HAND.items():
        row = api[ext]
        assert (row["coursework_mark"], row["exam_mark"], row["module_mark"], row["module_mark_final"]) == (
            hand["cw"],
            hand["exam"],
            hand["module"],
            hand["final"],
        ), ext
        cells = {c["code"]: c for c in row["courseworks"]}
        for code in ("cw1", "cw2"):
            total, percent, weighted = hand[code]
            assert (cells[code]["total"], cells[code]["percent"], cells[code]["weighted"]) == (
                total,
                percent,
                weighted,
            ), (ext, code)
    assert api["s7"]["status"] == "withdrawn" and api["s7"]["courseworks"][0]["status"] == "withdrawn"
    assert api["s6"]["courseworks"][0]["status"] == "no_submission"
    assert api["s3"]["courseworks"][0]["late_minutes"] == 0  # the extension
    assert api["s2"]["courseworks"][0]["late_minutes"] == 30

    # The registry file.
    r = client.get("/api/v1/module/registry.csv", headers=lee)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    registry = {row["external_id"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert list(registry) == list(HAND)
    for ext, hand in HAND.items():
        row = registry[ext]
        got = tuple(_num(row[k]) for k in ("coursework_mark", "exam_mark", "module_mark", "module_mark_final"))
        assert got == (hand["cw"], hand["exam"], hand["module"], hand["final"]), ext
        for code in ("cw1", "cw2"):
            total, percent, weighted = hand[code]
            assert (_num(row[f"{code}_total"]), _num(row[f"{code}_percent"]), _num(row[f"{code}_weighted"])) == (
                total,
                percent,
                weighted,
            ), (ext, code)
        assert "half up" in row["rounding"]
    assert registry["s7"]["status"] == "withdrawn" and registry["s7"]["withdrawn_on"] == "2099-01-25"
    assert registry["s7"]["cw1_status"] == "withdrawn" and registry["s7"]["complete"] == "no"
    assert registry["s6"]["status"] == "enrolled" and registry["s6"]["cw1_status"] == "no_submission"
    assert registry["s1"]["complete"] == "yes" and registry["s3"]["complete"] == "yes"

    # The per-item file: the override, the penalty, the late deduction and each total.
    r = client.get("/api/v1/module/items.csv", headers=lee)
    assert r.status_code == 200
    lines = list(csv.DictReader(io.StringIO(r.text)))

    def line(ext: str, code: str, kind: str, ident: str | None = None) -> dict[str, str]:
        found = [
            x
            for x in lines
            if (x["external_id"], x["coursework"], x["line"]) == (ext, code, kind) and ident in (None, x["id"])
        ]
        assert len(found) == 1, (ext, code, kind, ident, found)
        return found[0]

    override = line("s4", "cw1", "item", "one")
    assert (override["score"], override["auto_score"], override["source"]) == ("9", "3", "override")
    penalty = line("s5", "cw1", "penalty", "lib")
    assert (penalty["score"], penalty["source"]) == ("-2", "run applied")
    late = line("s2", "cw1", "late", "late")
    assert late["score"] == "-2" and "30 minutes late" in late["title"]  # 20 x 0.9 = 18: 2 points lost
    assert not [x for x in lines if x["external_id"] == "s3" and x["line"] == "late"]  # extended: not late
    for ext, hand in HAND.items():
        for code in ("cw1", "cw2"):
            total = hand[code][0]
            if total is None:
                assert line(ext, code, "none")["status"] in ("no_submission", "withdrawn")
            else:
                assert float(line(ext, code, "total")["score"]) == total, (ext, code)
    assert line("s7", "cw1", "none")["student_status"] == "withdrawn"

    # The coursework export: the same totals (the overview's rows), the withdrawn student left out.
    for code in ("cw1", "cw2"):
        r = client.get(f"/api/v1/courseworks/{code}/export.csv", headers=lee)
        exported = {row["external_id"]: row for row in csv.DictReader(io.StringIO(r.text))}
        assert "s7" not in exported
        for ext, hand in HAND.items():
            if ext != "s7":
                assert _num(exported[ext]["total"]) == hand[code][0], (ext, code)

    # The lecturer's page: the same rounded numbers in each student's row.
    browser, _ = sign_in(client.app, "lee")
    page = browser.get("/lecturer/module")
    assert page.status_code == 200, page.text
    for ext, hand in HAND.items():
        row = re.search(rf'<tr data-student="{ext}">(.*?)</tr>', page.text, re.S)
        assert row, ext
        cells = dict(re.findall(r'data-col="(\w+)">([^<]*)<', row[1]))
        expected = {
            "coursework": "" if hand["cw"] is None else f"{hand['cw']:.2f}",
            "exam": "" if hand["exam"] is None else f"{hand['exam']:.2f}",
            "module": "" if hand["module"] is None else f"{hand['module']:.2f}",
            "final": "" if hand["final"] is None else str(hand["final"]),
        }
        assert cells == expected, ext
        cw_cells = dict(re.findall(r'data-cw="(\w+)">([^<]*)<', row[1]))
        for code in ("cw1", "cw2"):
            percent = hand[code][1]
            if percent is not None:
                assert cw_cells[code] == f"{percent:.2f}", (ext, code)
    assert (
        browser.get("/lecturer/module/registry.csv").text == client.get("/api/v1/module/registry.csv", headers=lee).text
    )

    # The page reads the overview's kept rows: a mark changed after it was shown is in the next one.
    # Ada's essay 7 -> 9: CW1 17/20 = 85 %; coursework 0.4 x 85 + 50.4 = 84.4; module 42.2 + 35 = 77.2.
    sub_id = api["s1"]["courseworks"][0]["submission_id"]
    sheet = client.get(f"/api/v1/submissions/{sub_id}/marking", headers=lee).json()
    version = next(i for i in sheet["items"] if i["id"] == "essay")["mark"]["version"]
    r = client.put(
        f"/api/v1/submissions/{sub_id}/marks/essay",
        headers=lee,
        json={"score": 9, "comment": "", "expected_version": version},
    )
    assert r.status_code == 200, r.text
    row = re.search(r'<tr data-student="s1">(.*?)</tr>', browser.get("/lecturer/module").text, re.S)
    assert row and dict(re.findall(r'data-col="(\w+)">([^<]*)<', row[1])) == {
        "coursework": "84.40",
        "exam": "70.00",
        "module": "77.20",
        "final": "77",
    }


def test_a_bad_exam_file_is_refused_whole_with_every_bad_line_and_nothing_stored(client, cohort, sessions):
    lee = cohort
    bad = "external_id,mark\ns1,71\nnobody,50\ns2,101\ns3,abc\ns1,72\ns4,\ns5,-1\n"
    r = client.post("/api/v1/module/exam-marks", headers=lee, json={"csv": bad})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "nothing was stored" in detail
    for expected in (
        "line 3: nobody is not on the roster",
        "line 4: s2: the mark '101' is not a number from 0 to 100",
        "line 5: s3: the mark 'abc'",
        "line 6: s1 appears again (first on line 2)",
        "line 7: s4: the mark ''",
        "line 8: s5: the mark '-1'",
    ):
        assert expected in detail, (expected, detail)
    with sessions() as session:
        marks = {
            ext: m
            for ext, m in session.execute(
                select(Student.external_id, ExamMark.mark).join(ExamMark, ExamMark.student_id == Student.id)
            )
        }
    assert marks == {"s1": 70, "s2": 55.5, "s3": 40, "s4": 100, "s5": 63.4, "s6": 35}  # unchanged

    # A good file replaces a mark; the audit log keeps the old and the new one.
    r = client.post("/api/v1/module/exam-marks", headers=lee, json={"csv": "external_id,mark\ns1,72\ns2,55.5\n"})
    assert r.status_code == 200 and r.json() == {"rows": 2, "created": 0, "updated": 1, "unchanged": 1}
    with sessions() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "exam.import").order_by(AuditEvent.id))
        last = list(events)[-1]
    assert last.details["changes"] == {"s1": [70, 72]}
    row = {s["external_id"]: s for s in client.get("/api/v1/module/marks", headers=lee).json()["students"]}["s1"]
    assert (row["exam_mark"], row["module_mark"]) == (72, 76.2)  # 0.5 x 80.4 + 0.5 x 72 = 40.2 + 36

    # The page's form: the same rules.
    browser, csrf = sign_in(client.app, "lee")
    r = browser.post(
        "/lecturer/module/exam-marks",
        data={"csrf_token": csrf},
        files={"file": ("exam.csv", b"external_id,mark\ns1,10\nghost,20\n", "text/csv")},
        follow_redirects=False,
    )
    assert r.status_code == 422 and "line 3: ghost is not on the roster" in r.text and "nothing was stored" in r.text
    r = browser.post(
        "/lecturer/module/exam-marks",
        data={"csrf_token": csrf},
        files={"file": ("exam.csv", b"\xef\xbb\xbfexternal_id,mark\r\ns6,36\r\n", "text/csv")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert "Imported 1 exam marks" in browser.get(r.headers["location"]).text
    with sessions() as session:
        held = dict(
            session.execute(
                select(Student.external_id, ExamMark.mark).join(ExamMark, ExamMark.student_id == Student.id)
            ).all()
        )
    assert (held["s1"], held["s6"]) == (72, 36)  # the refused file changed nothing


def test_students_see_the_coursework_mark_after_both_releases_and_the_module_mark_after_its_own(
    client, cohort, sessions
):
    lee = cohort
    with sessions() as session:
        ada = session.scalars(select(Student).where(Student.external_id == "s1")).one()
        user = create_user(session=session, username="ada", role=Role.student, name="Ada")
        set_password(session=session, user=user, password=PASSWORD)
        ada.user_id = user.id
        session.commit()
        ada_headers = token_for(session, "ada")

    def mine() -> dict:
        r = client.get("/api/v1/module/marks/mine", headers=ada_headers)
        assert r.status_code == 200, r.text
        return r.json()

    withheld = {"coursework_mark", "exam_mark", "module_mark", "module_mark_final"}
    assert not withheld & set(mine()) and mine()["coursework_mark_released"] is False
    # Module marks released before the courseworks: a student sees nothing of them until both
    # courseworks are released too (a module mark would give the coursework mark away).
    r = client.post("/api/v1/module/release", headers=lee, json={"note": "board met"})
    assert r.status_code == 200 and r.json()["waiting_for"] == ["cw1", "cw2"], r.text
    assert not withheld & set(mine()) and mine()["module_released"] is True
    assert client.post("/api/v1/courseworks/cw1/release", headers=lee).status_code == 200
    assert not withheld & set(mine())  # CW2 still unreleased
    # The feedback sheet's "Coursework mark" table, as a course system reads it: CW1's share so far.
    weighting = client.get("/api/v1/courseworks/cw1/feedback/s1", headers=lee).json()["weighting"]
    assert weighting["so_far"] and {c["coursework"]: c["released"] for c in weighting["courseworks"]} == {
        "cw1": True,
        "cw2": False,
    }

    browser, csrf = sign_in(client.app, "ada")
    page = browser.get("/module")
    assert page.status_code == 200 and "80.40" not in page.text and "75.20" not in page.text
    assert browser.get("/lecturer/module").status_code in (403, 404)
    assert client.get("/api/v1/module/marks", headers=ada_headers).status_code == 403
    assert client.get("/api/v1/module/registry.csv", headers=ada_headers).status_code == 403

    assert client.post("/api/v1/courseworks/cw2/release", headers=lee).status_code == 200
    view = mine()
    assert (view["coursework_mark"], view["exam_mark"], view["module_mark"], view["module_mark_final"]) == (
        80.4,
        70,
        75.2,
        75,
    )
    assert "75.20" in browser.get("/module").text
    # The sheet's weighting (the sheet's data path) agrees with the module's coursework mark (the cohort's).
    weighting = client.get("/api/v1/courseworks/cw2/feedback/s1", headers=lee).json()["weighting"]
    assert weighting["so_far"] is False and weighting["mark"] == pytest.approx(80.4)
    with sessions() as session:
        assert session.scalars(select(AuditEvent.action).where(AuditEvent.action == "module.release")).all() == [
            "module.release"
        ]
