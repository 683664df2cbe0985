"""Tutorials (unassessed courseworks, weight 0) through the API: listed, an upload limit of their own,
feedback in full as soon as a run is graded (no release), nothing late, the latest counts, and their
runs wait behind assessed work in the claim order."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_kit import grade, notebook, upload
from sqlalchemy import select

from grader.courseworks.models import Coursework
from grader.runs.fair_queue import NORMAL, TUTORIAL
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.runs.service import claim_next_run
from grader.settings import Settings
from grader.submissions.models import Submission

ASSESSED_PER_HOUR = 4
TUTORIAL_PER_HOUR = 3

TUT_RUBRIC = """\
coursework: tut
title: "Tutorial: practice"
version: "1"
weight: 0
total_points: 10
deadline: 2020-01-15T12:00:00  # long past: a soft deadline, nothing is late
timezone: Europe/London
submission: {notebook: tut.ipynb, max_mb: 1}
mode: full
resources: {queue: cpu}
parts:
  - {id: p1, title: "Part 1", points: 10}
items:
  - {id: first, part: p1, title: "First", points: 5, auto: {tests: ["test_a.py::test_shown"]}}
  - {id: second, part: p1, title: "Second", points: 5, auto: {tests: ["test_a.py::test_later"]}}
"""


@pytest.fixture(scope="module")
def with_tutorial(tmp_path_factory: pytest.TempPathFactory, rubrics_dir: Path) -> Path:
    """cwa, the API tests' assessed coursework, and tut, a tutorial."""
    root = tmp_path_factory.mktemp("tutorial-rubrics")
    for code, body in (("cwa", (rubrics_dir / "cwa" / "rubric.yaml").read_text()), ("tut", TUT_RUBRIC)):
        (root / code / "hidden").mkdir(parents=True)
        (root / code / "rubric.yaml").write_text(body)
        (root / code / "hidden" / "test_a.py").write_text("def test_shown():\n    pass\n")
    return root


@pytest.fixture
def settings(tmp_path: Path, with_tutorial: Path, api_pg_url: str) -> Settings:
    return Settings(
        rubrics_dir=with_tutorial,
        database_url=api_pg_url,
        blob_dir=tmp_path / "blobs",
        broker_url="filesystem://",
        broker_dir=tmp_path / "broker",
        upload_max_mb=1,
        submissions_per_hour=ASSESSED_PER_HOUR,
        tutorial_submissions_per_hour=TUTORIAL_PER_HOUR,
        secret_key="api-tests-secret-key-" + "k" * 24,
    )


def practise(client, headers, text: str):
    return upload(client, headers, notebook(text), name="tut.ipynb", cw="tut")


def test_students_see_tutorials_listed_after_the_assessed_courseworks(client, people):
    r = client.get("/api/v1/courseworks", headers=people.headers["student"])
    assert r.status_code == 200, r.text
    listed = {c["code"]: c for c in r.json()}
    assert [c["code"] for c in r.json()] == ["cwa", "tut"]
    assert listed["tut"]["unassessed"] is True and listed["tut"]["weight"] == 0
    assert listed["tut"]["deadline"] is None  # the gradebook holds no deadline: nothing is late
    assert listed["tut"]["suggested_by"].startswith("2020-01-15T12:00:00")
    assert listed["cwa"]["unassessed"] is False and listed["cwa"]["suggested_by"] is None
    assert client.get("/api/v1/courseworks").status_code == 401


def test_a_tutorial_has_an_upload_limit_of_its_own(client, people, sessions):
    student = people.headers["student"]
    for n in range(TUTORIAL_PER_HOUR):
        assert practise(client, student, f"n = {n}").status_code == 201
    r = practise(client, student, "once more")
    assert r.status_code == 429, r.text
    assert f"at most {TUTORIAL_PER_HOUR} uploads an hour" in r.json()["detail"]
    assert 0 < int(r.headers["Retry-After"]) <= 3600
    # The tutorial's attempts ate none of the assessed coursework's, and the other way round.
    for n in range(ASSESSED_PER_HOUR):
        assert upload(client, student, notebook(f"real {n}")).status_code == 201
    assert upload(client, student, notebook("real again")).status_code == 429
    with sessions() as s:
        tut = s.scalars(select(Coursework).where(Coursework.code == "tut")).one()
        assert len(s.scalars(select(Submission).where(Submission.coursework_id == tut.id)).all()) == TUTORIAL_PER_HOUR


def test_feedback_is_whole_as_soon_as_a_run_is_graded_with_no_release(client, people, sessions):
    r = practise(client, people.headers["student"], "x = 1")
    assert r.status_code == 201
    receipt = r.json()
    assert receipt["late"] is False and receipt["late_minutes"] == 0  # its soft deadline is long past
    mine = client.get("/api/v1/courseworks/tut/marks/mine", headers=people.headers["student"]).json()
    assert mine["released"] is True and mine["status"] == "pending"

    grade(sessions, client.app.state.courseworks["tut"].rubric, receipt["id"])
    mine = client.get("/api/v1/courseworks/tut/marks/mine", headers=people.headers["student"]).json()
    assert mine["released"] is True and mine["status"] == "graded"
    assert (mine["total"], mine["max_score"]) == (2.0, 10.0)  # test_shown's 0.4 of 5 points
    items = {i["id"]: i for i in mine["items"]}
    assert items["first"]["score"] == 2.0 and "shape (3, 3) expected" in items["first"]["message"]
    assert items["second"]["score"] == 0.0 and items["second"]["message"] == "later: wrong values"
    with sessions() as s:
        assert s.scalars(select(Coursework.released_at).where(Coursework.code == "tut")).one() is None
    # The lecturer's table and export answer for a tutorial as for any coursework.
    table = client.get("/api/v1/courseworks/tut/marks", headers=people.headers["lecturer"]).json()
    assert table["released"] is True
    export = client.get("/api/v1/courseworks/tut/export.csv", headers=people.headers["lecturer"])
    assert export.status_code == 200 and export.text.count("\n") == 4  # header, s1, s2, s3


def test_the_latest_submission_counts_and_supersedes_the_waiting_ones(client, people, sessions):
    first = practise(client, people.headers["student"], "first").json()["id"]
    second = practise(client, people.headers["student"], "second").json()["id"]
    with sessions() as s:
        runs = {
            str(r.submission_id): r for r in s.scalars(select(GradingRun).where(GradingRun.kind == RunKind.full)).all()
        }
    assert runs[first].status is RunStatus.superseded and runs[second].status is RunStatus.queued
    mine = client.get("/api/v1/courseworks/tut/marks/mine", headers=people.headers["student"]).json()
    assert mine["submission_id"] == second


def test_tutorial_runs_wait_behind_assessed_runs(client, people, sessions):
    tutorial = practise(client, people.headers["student"], "practice first").json()["id"]
    assessed = upload(client, people.headers["other"], notebook("assessed later")).json()["id"]
    with sessions() as s:
        priority = {
            str(r.submission_id): r.priority
            for r in s.scalars(select(GradingRun).where(GradingRun.kind == RunKind.full)).all()
        }
        assert priority == {tutorial: TUTORIAL, assessed: NORMAL[RunKind.full]}
        # Queued first, the tutorial's run is still claimed after the assessed one.
        order = []
        while (lease := claim_next_run(session=s, worker_id="w", queues=["cpu"])) is not None:
            order.append(str(lease.submission_id))
        assert order == [assessed, tutorial]
