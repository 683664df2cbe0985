"""Withdrawing a student and reinstating them, over the API and the lecturer's roster page: the
withdrawn student leaves the coursework marks and the markers' overview, and stays in the registry
file as ``withdrawn``; bad requests change nothing; every change is audited."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from module_kit import DEADLINE, add_student, grade, lecturer, module_rubrics, sign_in, submit
from sqlalchemy import select

from grader.audit.models import AuditEvent
from grader.rubrics.loader import load_coursework
from grader.users.models import Role
from grader.users.service import create_token, create_user

PASS = {"test_one.py::test_one": 1.0, "test_one.py::test_lib": 1.0}


@pytest.fixture(scope="module")
def rubrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return module_rubrics(tmp_path_factory.mktemp("roster_rubrics"))


@pytest.fixture
def lee(client, sessions, settings):
    """A lecturer's token; Ada (s1) and Ben (s2) submitted CW1, graded; Cleo (s3) never submits."""
    cw1 = load_coursework("cw1", settings).rubric
    with sessions() as session:
        _, headers = lecturer(session)
        for ext, name in (("s1", "Ada"), ("s2", "Ben")):
            grade(session, cw1, submit(session, add_student(session, ext, name), "cw1", DEADLINE), PASS)
        add_student(session, "s3", "Cleo")
        session.commit()
    return headers


def _events(sessions, action: str) -> list[AuditEvent]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _marks(client, lee) -> list[str]:
    r = client.get("/api/v1/courseworks/cw1/marks", headers=lee)
    assert r.status_code == 200, r.text
    return [s["external_id"] for s in r.json()["students"]]


def _registry(client, lee) -> dict[str, dict[str, str]]:
    r = client.get("/api/v1/module/registry.csv", headers=lee)
    assert r.status_code == 200, r.text
    return {row["external_id"]: row for row in csv.DictReader(io.StringIO(r.text))}


def _roster(client, lee) -> dict[str, dict]:
    r = client.get("/api/v1/roster", headers=lee)
    assert r.status_code == 200, r.text
    return {s["external_id"]: s for s in r.json()["students"]}


def test_a_withdrawn_student_leaves_the_marks_and_overview_and_stays_in_the_registry(client, sessions, lee):
    browser, _ = sign_in(client.app, "lee")
    assert _marks(client, lee) == ["s1", "s2", "s3"]

    r = client.put("/api/v1/roster/s1/withdrawal", headers=lee, json={"on": "2026-03-02", "reason": "left"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["withdrawn_at"], body["changed"]) == ("withdrawn", "2026-03-02T00:00:00Z", True)

    assert _marks(client, lee) == ["s2", "s3"]
    overview = browser.get("/staff/courseworks/cw1")
    assert overview.status_code == 200 and 'data-student="s2"' in overview.text
    assert 'data-student="s1"' not in overview.text
    registry = _registry(client, lee)
    assert list(registry) == ["s1", "s2", "s3"]  # the withdrawn included, in roster order
    assert (registry["s1"]["status"], registry["s1"]["withdrawn_on"]) == ("withdrawn", "2026-03-02")
    assert registry["s1"]["cw1_status"] == "withdrawn" and registry["s2"]["status"] == "enrolled"
    assert _roster(client, lee)["s1"]["status"] == "withdrawn" and _roster(client, lee)["s2"]["withdrawn_at"] is None

    (event,) = _events(sessions, "roster.withdraw")
    assert event.actor_id is not None and event.details["reason"] == "left"
    assert event.details["old"] == {"withdrawn_at": None}
    assert event.details["new"] == {"withdrawn_at": "2026-03-02T00:00:00+00:00"}

    # A retry (no date) keeps the first date and records nothing.
    again = client.put("/api/v1/roster/s1/withdrawal", headers=lee)
    assert again.status_code == 200 and again.json()["changed"] is False
    assert again.json()["withdrawn_at"] == "2026-03-02T00:00:00Z" and len(_events(sessions, "roster.withdraw")) == 1

    # Reinstated: back everywhere, with their marks.
    back = client.delete("/api/v1/roster/s1/withdrawal", headers=lee)
    assert back.status_code == 200, back.text
    assert (back.json()["status"], back.json()["withdrawn_at"], back.json()["changed"]) == ("enrolled", None, True)
    assert _marks(client, lee) == ["s1", "s2", "s3"]
    assert 'data-student="s1"' in browser.get("/staff/courseworks/cw1").text
    assert _registry(client, lee)["s1"]["status"] == "enrolled"
    (event,) = _events(sessions, "roster.reinstate")
    assert event.details["old"] == {"withdrawn_at": "2026-03-02T00:00:00+00:00"}
    # Reinstating an enrolled student changes nothing.
    assert client.delete("/api/v1/roster/s1/withdrawal", headers=lee).json()["changed"] is False
    assert len(_events(sessions, "roster.reinstate")) == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("PUT", "/api/v1/roster/nope/withdrawal", {}, 404, "no student with external id 'nope'"),
        ("DELETE", "/api/v1/roster/nope/withdrawal", None, 404, "no student with external id 'nope'"),
        ("PUT", "/api/v1/roster/s1/withdrawal", {"on": "2026-03-02 14:00"}, 422, "no time zone offset"),
        ("PUT", "/api/v1/roster/s1/withdrawal", {"on": "2999-01-01"}, 422, "in the future"),
        ("PUT", "/api/v1/roster/s1/withdrawal", {"on": "soon"}, 422, "not a date"),
        ("PUT", "/api/v1/roster/s1/withdrawal", {"on": 12}, 422, "on"),
        ("PUT", "/api/v1/roster/s1/withdrawal", {"reason": "x" * 2001}, 422, "reason"),
        ("PUT", "/api/v1/roster/s1/withdrawal", [1], 422, "not valid"),
    ],
)
def test_a_bad_request_is_refused_with_a_sentence_and_changes_nothing(
    client, sessions, lee, method, path, body, status, words
):
    r = client.request(method, path, headers=lee, json=body) if body is not None else client.delete(path, headers=lee)
    assert r.status_code == status, r.text
    assert isinstance(r.json()["detail"], str) and words in r.json()["detail"]
    assert all(s["withdrawn_at"] is None for s in _roster(client, lee).values())
    assert _events(sessions, "roster.withdraw") == [] and _events(sessions, "roster.reinstate") == []


def test_the_roster_import_keeps_a_withdrawn_student_withdrawn_and_says_so(client, sessions, lee):
    plain = client.post(
        "/api/v1/roster",
        headers=lee,
        json={"students": [{"external_id": "s2", "name": "Ben", "email": "s2@example.ac.uk"}]},
    )
    assert plain.json() == {"created": 0, "updated": 0, "unchanged": 1}  # no one withdrawn: the reply as before
    assert client.put("/api/v1/roster/s1/withdrawal", headers=lee, json={"on": "2026-03-02"}).status_code == 200
    r = client.post(
        "/api/v1/roster",
        headers=lee,
        json={"students": [{"external_id": "s1", "name": "Ada L."}, {"external_id": "s4", "name": "Dev"}]},
    )
    assert r.status_code == 200 and r.json() == {"created": 1, "updated": 1, "unchanged": 0, "still_withdrawn": ["s1"]}
    roster = _roster(client, lee)
    assert roster["s1"]["name"] == "Ada L." and roster["s1"]["withdrawn_at"] == "2026-03-02T00:00:00Z"
    assert _marks(client, lee) == ["s2", "s3", "s4"]


def test_a_course_systems_token_with_the_roster_scope_withdraws_and_a_gta_cannot(client, sessions, lee):
    with sessions() as session:
        cate = create_token(session=session, user=create_user(session=session, username="cate", role=Role.service))[0]
        gina = create_token(session=session, user=create_user(session=session, username="gina", role=Role.gta))[0]
        narrow = create_token(
            session=session, user=create_user(session=session, username="cate2", role=Role.service), scopes=["read"]
        )[0]
    assert client.put("/api/v1/roster/s2/withdrawal", headers={"Authorization": f"Bearer {gina}"}).status_code == 403
    denied = client.put("/api/v1/roster/s2/withdrawal", headers={"Authorization": f"Bearer {narrow}"})
    assert denied.status_code == 403 and "roster" in denied.json()["detail"]
    assert _roster(client, lee)["s2"]["withdrawn_at"] is None
    r = client.put("/api/v1/roster/s2/withdrawal", headers={"Authorization": f"Bearer {cate}"})
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"


def test_the_lecturers_roster_page_withdraws_and_reinstates(client, sessions, lee):
    browser, csrf = sign_in(client.app, "lee")
    assert 'href="/lecturer/roster"' in browser.get("/").text
    page = browser.get("/lecturer/roster")
    assert page.status_code == 200 and all(f'data-student="{s}"' in page.text for s in ("s1", "s2", "s3"))

    r = browser.post(
        "/lecturer/roster/withdraw",
        data={"csrf_token": csrf, "external_id": "s2", "on": "2026-03-05", "reason": "moved"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = browser.get(r.headers["location"])
    assert "s2 is withdrawn." in page.text and "2026-03-05" in page.text and 'data-testid="reinstate"' in page.text
    assert _marks(client, lee) == ["s1", "s3"]
    assert _events(sessions, "roster.withdraw")[0].details["reason"] == "moved"

    # A bad date or an unknown student: refused with a sentence, nothing changed.
    bad = browser.post("/lecturer/roster/withdraw", data={"csrf_token": csrf, "external_id": "s1", "on": "2999-01-01"})
    assert bad.status_code == 422 and "in the future" in bad.text
    unknown = browser.post("/lecturer/roster/withdraw", data={"csrf_token": csrf, "external_id": "zz"})
    assert unknown.status_code == 404 and "zz" in unknown.text
    no_csrf = browser.post("/lecturer/roster/withdraw", data={"external_id": "s1"}, follow_redirects=False)
    assert no_csrf.status_code in (400, 403)
    assert _roster(client, lee)["s1"]["withdrawn_at"] is None

    r = browser.post("/lecturer/roster/s2/reinstate", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert "s2 is reinstated" in browser.get(r.headers["location"]).text
    assert _marks(client, lee) == ["s1", "s2", "s3"]
