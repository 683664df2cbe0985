"""Queries after release through the API: raised by a student on one item of their released mark,
within the lecturer's window; routed to the item's marker or the lecturers; answered, with the mark
changed through its history; the outcome on the student's sheet; everything audited; pseudonyms
for a GTA under anonymous marking; before release, nothing of it exists for the student."""

from __future__ import annotations

import datetime as dt
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from api_kit import grade, notebook, upload
from click.testing import CliRunner
from sqlalchemy import select, update

from grader.audit.models import AuditEvent
from grader.cli import main
from grader.courseworks.models import Coursework
from grader.courseworks.service import coursework_by_code
from grader.marking.allocations import allocate, set_anonymous
from grader.marking.models import MarkChange
from grader.marking.query_models import MarkQuery
from grader.settings import get_settings
from grader.users.models import User

MINE = "/api/v1/courseworks/cwa/queries/mine"
RAISE = "/api/v1/courseworks/cwa/queries"
WINDOW = "/api/v1/courseworks/cwa/query-window"


@pytest.fixture
def graded(client, people, sessions, settings) -> str:
    """alice's (s1) cwa submission, graded: shown 2/5, later 0/5, secret 3/5, essay unmarked."""
    sub = upload(client, people.headers["student"], notebook()).json()["id"]
    grade(sessions, client.app.state.courseworks["cwa"].rubric, sub)
    return sub


def _release(client, people) -> None:
    r = client.post("/api/v1/courseworks/cwa/release", headers=people.headers["lecturer"])
    assert r.status_code == 200, r.text


def _open_window(client, people, days: int | None = 7) -> None:
    r = client.put(WINDOW, headers=people.headers["lecturer"], json={"days": days})
    assert r.status_code == 200 and r.json() == {"coursework": "cwa", "days": days}, r.text


def _actions(sessions) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _stored(sessions) -> list[MarkQuery]:
    with sessions() as session:
        return list(session.scalars(select(MarkQuery).order_by(MarkQuery.id)))


def test_before_release_nothing_of_queries_exists_for_the_student(client, people, sessions, graded):
    _open_window(client, people)
    for who in ("student", "service"):
        r = client.post(RAISE, headers=people.headers[who], json={"item_id": "essay", "message": "please look"})
        assert r.status_code == 404 and "not released" in r.json()["detail"], r.text
        assert client.get(MINE, headers=people.headers[who]).status_code == 404
    assert _stored(sessions) == []


def test_a_query_is_raised_answered_with_a_new_mark_and_the_student_sees_the_outcome(client, people, sessions, graded):
    _release(client, people)
    closed = client.post(RAISE, headers=people.headers["student"], json={"item_id": "essay", "message": "look"})
    assert closed.status_code == 403 and "not opened queries" in closed.json()["detail"]
    _open_window(client, people, 14)
    mine = client.get(MINE, headers=people.headers["student"]).json()
    assert mine["window_open"] and mine["queries"] == [] and "open until" in mine["window"]

    r = client.post(
        RAISE, headers=people.headers["student"], json={"item_id": "essay", "message": "Section 2 covers overfitting."}
    )
    assert r.status_code == 201, r.text
    query = r.json()
    assert (query["status"], query["item_title"], query["answer"]) == ("open", "Essay", None)
    again = client.post(RAISE, headers=people.headers["student"], json={"item_id": "essay", "message": "again"})
    assert again.status_code == 409

    # Nobody is allocated to alice: the lecturers answer; a GTA does not see it.
    listed = client.get(RAISE, headers=people.headers["lecturer"]).json()
    assert listed["window_days"] == 14
    assert [(q["id"], q["external_id"], q["assigned_to"]) for q in listed["queries"]] == [(query["id"], "s1", None)]
    assert client.get(RAISE, headers=people.headers["gta"]).json()["queries"] == []
    gta_answer = client.post(
        f"/api/v1/queries/{query['id']}/answer", headers=people.headers["gta"], json={"answer": "no", "score": 5}
    )
    assert gta_answer.status_code == 404
    too_high = client.post(
        f"/api/v1/queries/{query['id']}/answer", headers=people.headers["lecturer"], json={"answer": "yes", "score": 9}
    )
    assert too_high.status_code == 422 and "between 0 and 5" in too_high.json()["detail"]
    assert _stored(sessions)[0].status.value == "open"  # refused: nothing changed

    r = client.post(
        f"/api/v1/queries/{query['id']}/answer",
        headers=people.headers["lecturer"],
        json={"answer": "Agreed: the discussion is there.", "score": 4},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["old_score"], r.json()["new_score"], r.json()["answered_by"]) == (0, 4, "lee")
    twice = client.post(
        f"/api/v1/queries/{query['id']}/answer", headers=people.headers["lecturer"], json={"answer": "x"}
    )
    assert twice.status_code == 409

    # The student's outcome, the sheet's new total and the mark's history.
    outcome = client.get(MINE, headers=people.headers["student"]).json()["queries"][0]
    assert (outcome["status"], outcome["answer"], outcome["old_score"], outcome["new_score"]) == (
        "answered",
        "Agreed: the discussion is there.",
        0,
        4,
    )
    sheet = client.get("/api/v1/courseworks/cwa/feedback/s1", headers=people.headers["lecturer"]).json()
    assert [(q["answer"], q["new_score"]) for q in sheet["queries"]] == [("Agreed: the discussion is there.", 4)]
    assert (
        next(i for s in sheet["sheet"]["parts"][0]["sections"] for i in s["items"] if i["id"] == "essay")["score"] == 4
    )
    marks = client.get("/api/v1/courseworks/cwa/marks/mine", headers=people.headers["student"]).json()
    assert next(i for i in marks["items"] if i["id"] == "essay")["score"] == 4
    history = client.get(f"/api/v1/submissions/{graded}/marks/essay/history", headers=people.headers["lecturer"]).json()
    assert [(h["old_score"], h["new_score"], h["changed_by"]) for h in history] == [(None, 4, "lee")]
    assert client.get(RAISE, headers=people.headers["lecturer"]).json()["queries"] == []  # none open
    assert len(client.get(f"{RAISE}?status=all", headers=people.headers["lecturer"]).json()["queries"]) == 1
    # The answer and the mark it changed, in one commit.
    assert _actions(sessions)[-5:] == ["release", "query.window", "query.raise", "query.answer", "mark.set"]


def test_the_marker_answers_under_pseudonyms_and_an_answer_can_keep_the_mark(client, people, sessions, graded):
    with sessions() as session:
        gina = session.scalars(select(User).where(User.username == "gina")).one()
        lee = session.scalars(select(User).where(User.username == "lee")).one()
        cwa = coursework_by_code(session=session, code="cwa")
        allocate(
            session=session,
            coursework_id=cwa.id,
            student_id=people.student_ids["student"],
            marker_id=gina.id,
            by_user_id=lee.id,
        )
        set_anonymous(session=session, coursework_id=cwa.id, anonymous=True, by_user_id=lee.id)
    _release(client, people)
    _open_window(client, people)
    r = client.post(
        RAISE,
        headers=people.headers["student"],
        json={"item_id": "secret", "message": "Alice here (alice@example.ac.uk): my held-out accuracy was 0.9"},
    )
    assert r.status_code == 201, r.text
    seen = client.get(RAISE, headers=people.headers["gta"]).json()["queries"]
    assert len(seen) == 1 and seen[0]["assigned_to"] == "gina"
    assert seen[0]["external_id"] is None and seen[0]["pseudonym"] and seen[0]["student_name"] == seen[0]["pseudonym"]
    assert "Alice" not in seen[0]["message"] and "alice@" not in seen[0]["message"]
    assert client.get(RAISE, headers=people.headers["lecturer"]).json()["queries"][0]["external_id"] == "s1"
    for who in ("student", "service"):
        assert client.get(RAISE, headers=people.headers[who]).status_code == 403

    r = client.post(
        f"/api/v1/queries/{seen[0]['id']}/answer",
        headers=people.headers["gta"],
        json={"answer": "The held-out set decides; the score stands."},
    )
    assert r.status_code == 200, r.text
    assert r.json()["old_score"] == r.json()["new_score"] == 3
    outcome = client.get(MINE, headers=people.headers["student"]).json()["queries"][0]
    assert outcome["answer"].startswith("The held-out set") and outcome["new_score"] == 3
    with sessions() as session:
        actions = list(session.scalars(select(AuditEvent.action)))
    assert "mark.set" not in actions and actions.count("query.answer") == 1


@pytest.mark.parametrize(
    "body, status, says",
    [
        ({"item_id": "nope", "message": "look"}, 404, "has no item"),
        ({"item_id": "essay", "message": "   "}, 422, "message is empty"),
        ({"item_id": "essay", "message": ""}, 422, "message"),
        ({"item_id": "essay"}, 422, "message"),
        ({"item_id": "essay", "message": "x" * 4001}, 422, "4000"),
    ],
)
def test_a_bad_query_is_refused_and_stores_nothing(client, people, sessions, graded, body, status, says):
    _release(client, people)
    _open_window(client, people)
    r = client.post(RAISE, headers=people.headers["student"], json=body)
    assert r.status_code == status and says in r.json()["detail"], r.text
    assert _stored(sessions) == []


def test_outside_the_window_a_query_is_refused(client, people, sessions, graded):
    _release(client, people)
    _open_window(client, people, 3)
    with sessions() as session:  # released four days ago
        session.execute(
            update(Coursework)
            .where(Coursework.code == "cwa")
            .values(released_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=4))
        )
        session.commit()
    r = client.post(RAISE, headers=people.headers["student"], json={"item_id": "essay", "message": "look"})
    assert r.status_code == 403 and "closed at" in r.json()["detail"], r.text
    assert not client.get(MINE, headers=people.headers["student"]).json()["window_open"]
    bad = client.put(WINDOW, headers=people.headers["lecturer"], json={"days": 400})
    assert bad.status_code == 422
    for who in ("gta", "student", "service"):
        assert client.put(WINDOW, headers=people.headers[who], json={"days": 9}).status_code == 403
    _open_window(client, people, None)  # closed again
    assert _stored(sessions) == []


@pytest.fixture
def cli(client, people, api_pg_url, monkeypatch):
    monkeypatch.setenv("GRADER_DATABASE_URL", api_pg_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_sets_the_window_and_lists_queries(cli, client, people, sessions, graded):
    assert cli.invoke(main, ["queries", "window", "-c", "cwa"]).output.strip() == "cwa: no queries"
    r = cli.invoke(main, ["queries", "window", "-c", "cwa", "--days", "5", "--by", "lee"])
    assert r.exit_code == 0 and "queries for 5 days after release" in r.output, r.output
    assert cli.invoke(main, ["queries", "window", "-c", "cwa", "--days", "366"]).exit_code == 2
    assert cli.invoke(main, ["queries", "window", "-c", "cwa", "--days", "3", "--close"]).exit_code == 2
    assert cli.invoke(main, ["queries", "window", "-c", "zz", "--days", "3"]).exit_code == 2
    assert cli.invoke(main, ["queries", "window", "-c", "cwa", "--days", "3", "--by", "nobody"]).exit_code == 2
    _release(client, people)
    r = client.post(RAISE, headers=people.headers["student"], json={"item_id": "later", "message": "values?"})
    assert r.status_code == 201, r.text
    listed = cli.invoke(main, ["queries", "list", "-c", "cwa", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [(q["external_id"], q["item_id"], q["status"], q["message"]) for q in rows] == [
        ("s1", "later", "open", "values?")
    ]
    r = cli.invoke(main, ["queries", "window", "-c", "cwa", "--close"])
    assert r.exit_code == 0 and "no queries" in r.output
    with sessions() as session:
        windows = session.scalars(select(AuditEvent).where(AuditEvent.action == "query.window")).all()
    assert [(e.details["days"], e.actor_id is not None) for e in windows] == [(5, True), (None, False)]


def test_two_markers_answering_at_once_one_wins_and_the_other_is_told(client, people, sessions, graded):
    _release(client, people)
    _open_window(client, people)
    query = client.post(RAISE, headers=people.headers["student"], json={"item_id": "essay", "message": "look"}).json()
    url = f"/api/v1/queries/{query['id']}/answer"
    barrier = threading.Barrier(2)

    def answer(score: float | None) -> int:
        barrier.wait()
        body = {"answer": f"answer {score}", "score": score}
        return client.post(url, headers=people.headers["lecturer"], json=body).status_code

    # One keeps the mark, one changes it: the mark's own lock cannot decide this, the query's row lock does.
    with ThreadPoolExecutor(2) as pool:
        codes = sorted(pool.map(answer, (None, 4.0)))
    assert codes == [200, 409], codes
    with sessions() as session:
        stored = session.scalars(select(MarkQuery)).one()
        changes = session.scalars(select(MarkChange)).all()
    if stored.answer == "answer 4.0":
        assert stored.new_score == 4 and [c.new_score for c in changes] == [4]
    else:
        assert stored.answer == "answer None" and stored.new_score == stored.old_score and changes == []
