"""The student's dashboard with a tutorial (weight 0) beside the courseworks: listed apart, the whole
feedback on the status and tutorial pages as soon as a run is graded, no release, and no part of the
coursework mark shown on an assessed feedback sheet."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pg_database import empty_tables
from sqlalchemy import delete, select
from web_kit import grade, notebook, sign_in, upload

from grader.courseworks.models import Coursework
from grader.courseworks.service import release_coursework
from grader.server import create_app

TUT = """\
coursework: tut
title: "Tutorial 1: Tensors"
version: "1"
weight: 0
total_points: 10
deadline: 2026-01-23T18:00:00
timezone: Europe/London
submission: {notebook: tut.ipynb, max_mb: 1}
mode: full
resources: {queue: cpu}
parts:
  - {id: t1, title: "Part 1", points: 10}
items:
  - {id: first, part: t1, title: "First function", points: 5, auto: {tests: ["test_a.py::test_shown"]}}
  - {id: second, part: t1, title: "Second function", points: 5, auto: {tests: ["test_a.py::test_later"]}}
"""


@pytest.fixture(scope="module")
def tut_rubrics(tmp_path_factory: pytest.TempPathFactory, web_rubrics_dir: Path) -> Path:
    """The dashboard tests' cwa and cwb, and tut, a tutorial."""
    root = tmp_path_factory.mktemp("web-tutorial-rubrics")
    bodies = {code: (web_rubrics_dir / code / "rubric.yaml").read_text() for code in ("cwa", "cwb")}
    for code, body in (*bodies.items(), ("tut", TUT)):
        (root / code / "hidden").mkdir(parents=True)
        (root / code / "rubric.yaml").write_text(body)
        (root / code / "hidden" / "test_a.py").write_text("def test_shown():\n    pass\n")
    return root


@pytest.fixture
def client(web_settings, web_engine, sessions, woken, tut_rubrics) -> Iterator[TestClient]:
    app = create_app(web_settings.model_copy(update={"rubrics_dir": tut_rubrics}), engine=web_engine, run_queue=woken)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c
    # The other dashboard tests keep the courseworks table between tests: leave it as they know it.
    empty_tables(web_engine, keep=frozenset({"courseworks"}))
    with web_engine.begin() as conn:
        conn.execute(delete(Coursework).where(Coursework.code == "tut"))


def test_the_start_page_lists_tutorials_apart_from_the_courseworks(client, people):
    sign_in(client, "alice")
    html = client.get("/").text
    courseworks, tutorials = html.split('data-testid="tutorials"')
    assert "CW A: Make it deep" in courseworks and "Tutorial 1: Tensors" not in courseworks
    assert "Tutorial 1: Tensors" in tutorials and 'href="/courseworks/tut"' in tutorials
    assert "Fri 23 Jan 2026, 18:00:00 GMT" in tutorials  # the soft deadline, as "suggested by"


def test_a_tutorials_feedback_is_whole_as_soon_as_it_is_graded(client, people, sessions, cwa_rubric):
    csrf = sign_in(client, "alice")
    reply = upload(client, csrf, notebook("x = 1"), name="tut.ipynb", cw="tut")
    assert reply.status_code == 303, reply.text
    sub_id = reply.headers["location"].rsplit("/", 1)[1]
    grade(sessions, client.app.state.courseworks["tut"].rubric, sub_id)

    status = client.get(f"/submissions/{sub_id}/status").json()
    assert status["status"] == "graded"
    # Every item with its score and message at once (test_shown 0.4 x 5 = 2, test_later 0.5 x 5 = 2.5).
    assert "2 / 5" in status["html"] and "shape (3, 3) expected" in status["html"]
    assert "2.5 / 5" in status["html"] and "later: half the values wrong" in status["html"]
    assert "Marks released" not in status["html"] and 'data-testid="tutorial-feedback"' in status["html"]

    page = client.get("/courseworks/tut").text
    assert "Feedback on your latest submission: 4.5 / 10" in page and "not assessed" in page
    assert "Your deadline" not in page
    sheet = client.get("/courseworks/tut/feedback")
    assert sheet.status_code == 200
    assert re.search(r'data-testid="cw-total">4.5 / 10<', sheet.text)
    assert 'data-testid="unassessed"' in sheet.text and 'data-testid="weighting"' not in sheet.text
    home = client.get("/").text.split('data-testid="tutorials"')[1]
    assert "4.5 / 10" in home

    # An assessed coursework's sheet weighs CW A and CW B only: the tutorial is no part of the mark.
    cwa = upload(client, csrf, notebook("y = 2"))
    grade(sessions, cwa_rubric, cwa.headers["location"].rsplit("/", 1)[1])
    with sessions() as session:
        row = session.scalars(select(Coursework).where(Coursework.code == "cwa")).one()
        release_coursework(session=session, coursework=row, released_by_id=people.user_ids["lecturer"])
    weighting = client.get("/courseworks/cwa/feedback").text.split('data-testid="weighting"')[1]
    assert "CW A: Make it deep" in weighting and "CW B: Generative models" in weighting
    assert "Tutorial 1" not in weighting


def test_staff_pages_of_a_tutorial_answer(client, people):
    sign_in(client, "lee")
    assert "Tutorial 1: Tensors" in client.get("/").text.split('data-testid="tutorials"')[1]
    for path in ("/staff/courseworks/tut", "/lecturer/courseworks/tut"):
        reply = client.get(path)
        assert reply.status_code == 200, (path, reply.text[:500])
