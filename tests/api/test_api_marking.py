"""The marker's desk over the API: marks and overrides with optimistic locking and history, penalty
decisions, the lecturer's counting pick, and duplicate flags. Real Postgres, real app."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from api_kit import notebook, upload
from marking_kit import TESTS, grade_with, marking_rubrics
from sqlalchemy import func, select

from grader.audit.models import AuditEvent
from grader.marking import desk
from grader.marking.models import ManualMark, MarkChange, PenaltyDecision
from grader.rubrics.loader import load_coursework
from grader.scoring.outcomes import TestOutcome, TestResult
from grader.submissions.models import CountingChoice
from grader.users.service import get_user

API = "/api/v1"


@pytest.fixture(scope="module")
def rubrics_dir(tmp_path_factory: pytest.TempPathFactory):
    return marking_rubrics(tmp_path_factory.mktemp("marking_rubrics"))


@pytest.fixture
def graded(client, people, settings, sessions) -> str:
    """s1's graded submission: auto items 2 + 0 + 3, the layers penalty applied: total 3 of 25."""
    sub = upload(client, people.headers["student"], notebook()).json()
    grade_with(sessions, load_coursework("cwa", settings).rubric, sub["id"])
    return sub["id"]


def by_id(entries):
    return {e["id"]: e for e in entries}


def view(client, people, sub_id, role="gta"):
    r = client.get(f"{API}/submissions/{sub_id}/marking", headers=people.headers[role])
    assert r.status_code == 200, r.text
    return r.json()


def put_mark(client, people, sub_id, item, score, version, role="gta", comment=""):
    return client.put(
        f"{API}/submissions/{sub_id}/marks/{item}",
        headers=people.headers[role],
        json={"score": score, "comment": comment, "expected_version": version},
    )


def put_penalty(client, people, sub_id, penalty, applied, version, role="gta", comment=""):
    return client.put(
        f"{API}/submissions/{sub_id}/penalties/{penalty}",
        headers=people.headers[role],
        json={"applied": applied, "comment": comment, "expected_version": version},
    )


def count(sessions, model, *where) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_the_marking_view_has_everything_a_marker_needs(client, people, graded):
    v = view(client, people, graded)
    assert v["submission_id"] == graded and v["coursework"] == "cwa"
    assert v["student"] == {"external_id": "s1", "name": "Alice", "pseudonym": None, "anonymous": False}
    assert v["late"] is False and v["late_minutes"] == 0 and v["counting"] is True and v["counting_choice"] is None
    assert v["run"]["status"] == "graded" and v["run"]["score"] == 3.0 and v["run"]["log"] == "ran 5 tests"
    items = by_id(v["items"])
    assert list(items) == ["shown", "later", "secret", "essay", "tidy"]
    # Markers see hidden items with their messages.
    assert items["secret"] == {
        "id": "secret",
        "part": "p1",
        "title": "Secret item",
        "points": 5.0,
        "kind": "auto",
        "visibility": "hidden",
        "auto_score": 3.0,
        "status": "partial",
        "message": "secret: hidden expected [1, 2]",
        "score": 3.0,
        "source": "auto",
        "mark": None,
    }
    assert items["essay"]["kind"] == "manual" and items["essay"]["source"] == "unmarked"
    assert items["tidy"]["kind"] == "suggest" and items["tidy"]["message"].startswith("suggested 4/5")
    layers = by_id(v["penalties"])["layers"]
    assert layers["auto_applied"] is True and layers["applied"] is True and layers["version"] is None
    assert layers["message"] == "nn.Conv2d used in Net" and layers["history"] == [] and layers["decision"] is None
    total = v["total"]
    assert (total["items_score"], total["penalty_points"], total["total"], total["max_score"]) == (5.0, 2.0, 3.0, 25.0)
    assert total["complete"] is False and v["duplicates"] == []


def test_students_and_services_may_not_open_the_desk(client, people, graded, sessions):
    for role in ("student", "other", "service"):
        r = client.get(f"{API}/submissions/{graded}/marking", headers=people.headers[role])
        assert r.status_code == 403 and set(r.json()) == {"detail"}, (role, r.text)
        r = put_mark(client, people, graded, "essay", 5, None, role=role)
        assert r.status_code == 403, (role, r.text)
    assert count(sessions, ManualMark) == 0
    missing = client.get(
        f"{API}/submissions/00000000-0000-0000-0000-000000000000/marking", headers=people.headers["gta"]
    )
    assert missing.status_code == 404


def test_the_desk_itself_refuses_roles_that_may_not_use_it(client, people, graded, sessions):
    """The desk decides from the user's role, whoever calls it (the dashboard has no token to scope):
    a student or a service account is refused before anything is read or written; a GTA may mark
    but not choose the counting submission."""
    courseworks = client.app.state.courseworks
    sub_id = uuid.UUID(graded)
    with sessions() as session:
        for username in ("alice", "cate"):
            user = get_user(session=session, username=username)
            with pytest.raises(desk.RoleRefused):
                desk.marking_view(
                    session=session,
                    courseworks=courseworks,
                    submission_id=sub_id,
                    reader=user,
                    artifact_url=lambda *_: "",
                )
            with pytest.raises(desk.RoleRefused):
                desk.save_mark(
                    session=session,
                    courseworks=courseworks,
                    submission_id=sub_id,
                    item_id="essay",
                    marker=user,
                    score=5,
                    comment="",
                    expected_version=None,
                )
        gta = get_user(session=session, username="gina")
        with pytest.raises(desk.RoleRefused):
            desk.choose_counting(
                session=session, courseworks=courseworks, submission_id=sub_id, lecturer=gta, reason="the better one"
            )
        assert (
            desk.marking_view(
                session=session, courseworks=courseworks, submission_id=sub_id, reader=gta, artifact_url=lambda *_: ""
            ).submission_id
            == sub_id
        )
    assert count(sessions, ManualMark) == 0 and count(sessions, CountingChoice) == 0


def test_marking_two_items_updates_the_total(client, people, graded):
    r = put_mark(client, people, graded, "essay", 4, None, comment="clear argument")
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["mark"]["score"] == 4.0 and saved["mark"]["kind"] == "manual" and saved["mark"]["version"] == 1
    assert saved["mark"]["updated_by"] == "gina" and saved["mark"]["scope"] == "submission"
    assert saved["counting"] is True and saved["total"]["total"] == 7.0
    # A suggested item takes a manual mark: the suggestion counts only once confirmed.
    r = put_mark(client, people, graded, "tidy", 4, None, role="lecturer")
    assert r.status_code == 200 and r.json()["total"]["total"] == 11.0 and r.json()["total"]["complete"] is True
    items = by_id(view(client, people, graded)["items"])
    assert items["essay"]["mark"]["comment"] == "clear argument" and items["essay"]["source"] == "manual"
    assert items["tidy"]["mark"]["updated_by"] == "lee" and items["tidy"]["score"] == 4.0
    row = client.get(f"{API}/courseworks/cwa/marks", headers=people.headers["gta"]).json()["students"][0]
    assert row["total"] == 11.0


def test_a_stale_save_gets_409_with_the_other_markers_mark_and_writes_nothing(client, people, graded, sessions):
    assert put_mark(client, people, graded, "essay", 3, None, comment="gina's").status_code == 200
    # Lee read the item before Gina saved (no mark yet).
    r = put_mark(client, people, graded, "essay", 5, None, role="lecturer", comment="lee's")
    assert r.status_code == 409, r.text
    body = r.json()
    assert "changed since you read it" in body["detail"]
    current = body["current"]
    assert (current["score"], current["comment"], current["version"]) == (3.0, "gina's", 1)
    assert current["updated_by"] == "gina"
    assert current["updated_at"]
    # Nothing written: still Gina's mark, one change, one audit event, the same total.
    assert count(sessions, MarkChange) == 1 and count(sessions, AuditEvent, AuditEvent.action == "mark.set") == 1
    essay = by_id(view(client, people, graded)["items"])["essay"]
    assert essay["score"] == 3.0 and essay["mark"]["version"] == 1
    # Named version 1, Lee's save goes through; Gina's second save on version 1 is now stale.
    assert put_mark(client, people, graded, "essay", 5, 1, role="lecturer").json()["mark"]["version"] == 2
    r = put_mark(client, people, graded, "essay", 2, 1)
    assert r.status_code == 409 and r.json()["current"]["score"] == 5.0 and r.json()["current"]["updated_by"] == "lee"


def test_clearing_an_override_falls_back_to_the_auto_score(client, people, graded):
    r = put_mark(client, people, graded, "shown", 5, None, comment="the shape check was too strict")
    assert r.status_code == 200 and r.json()["mark"]["kind"] == "override" and r.json()["total"]["total"] == 6.0
    r = put_mark(client, people, graded, "shown", None, 1)
    assert r.status_code == 200, r.text
    assert r.json()["mark"]["score"] is None and r.json()["mark"]["version"] == 2 and r.json()["total"]["total"] == 3.0
    shown = by_id(view(client, people, graded)["items"])["shown"]
    assert shown["source"] == "auto" and shown["score"] == 2.0 and shown["mark"]["score"] is None


def test_history_lists_who_when_old_and_new(client, people, graded):
    put_mark(client, people, graded, "essay", 2, None, comment="thin")
    put_mark(client, people, graded, "essay", 4, 1, role="lecturer", comment="second reading")
    put_mark(client, people, graded, "essay", None, 2, comment="to be moderated")
    r = client.get(f"{API}/submissions/{graded}/marks/essay/history", headers=people.headers["gta"])
    assert r.status_code == 200, r.text
    history = r.json()
    assert [(h["version"], h["old_score"], h["new_score"], h["comment"], h["changed_by"]) for h in history] == [
        (1, None, 2.0, "thin", "gina"),
        (2, 2.0, 4.0, "second reading", "lee"),
        (3, 4.0, None, "to be moderated", "gina"),
    ]
    times = [h["changed_at"] for h in history]
    assert times == sorted(times) and all(times)
    never = client.get(f"{API}/submissions/{graded}/marks/secret/history", headers=people.headers["lecturer"])
    assert never.status_code == 200 and never.json() == []
    unknown = client.get(f"{API}/submissions/{graded}/marks/nope/history", headers=people.headers["gta"])
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    "body, why",
    [
        ({"score": 5.5, "expected_version": None}, "above the item's points"),
        ({"score": -1, "expected_version": None}, "negative"),
        ({"score": "3", "expected_version": None}, "a string"),
        ({"score": True, "expected_version": None}, "a boolean"),
        ({"score": 3}, "no expected_version"),
        ({"score": 3, "expected_version": 0}, "version 0"),
        ({"score": 3, "expected_version": None, "comment": "x" * 5001}, "comment too long"),
    ],
)
def test_bad_marks_are_refused_with_422_and_change_nothing(client, people, graded, sessions, body, why):
    r = client.put(f"{API}/submissions/{graded}/marks/essay", headers=people.headers["gta"], json=body)
    assert r.status_code == 422, (why, r.text)
    assert set(r.json()) == {"detail"} and isinstance(r.json()["detail"], str)
    assert count(sessions, ManualMark) == 0 and count(sessions, AuditEvent, AuditEvent.action == "mark.set") == 0


def test_an_unknown_item_is_404(client, people, graded, sessions):
    r = put_mark(client, people, graded, "essay2", 1, None)
    assert r.status_code == 404 and "essay2" in r.json()["detail"]
    assert count(sessions, ManualMark) == 0


def test_an_override_survives_a_regrade(client, people, settings, sessions, graded):
    assert put_mark(client, people, graded, "shown", 4.5, None, comment="partly right").status_code == 200
    first_run = view(client, people, graded)["run"]["id"]
    assert client.post(f"{API}/submissions/{graded}/regrade", headers=people.headers["lecturer"]).status_code == 202
    # The regrade scores the item differently (full marks now) and lifts the penalty.
    better = {
        **TESTS,
        "test_a.py::test_shown": TestResult(TestOutcome.passed, 1.0, ""),
        "test_a.py::test_layers": TestResult(TestOutcome.passed, 1.0, ""),
    }
    new_run = grade_with(sessions, load_coursework("cwa", settings).rubric, graded, better)
    v = view(client, people, graded)
    assert v["run"]["id"] == new_run != first_run
    shown = by_id(v["items"])["shown"]
    assert shown["auto_score"] == 5.0 and shown["score"] == 4.5 and shown["source"] == "override"
    assert shown["mark"]["comment"] == "partly right"
    assert v["total"]["total"] == 7.5  # 4.5 + 0 + 3, no penalty now
    row = client.get(f"{API}/courseworks/cwa/marks", headers=people.headers["gta"]).json()["students"][0]
    assert row["run_id"] == new_run and row["total"] == 7.5


def test_a_coursework_wide_mark_is_the_one_edited(client, people, graded, sessions):
    from grader.courseworks.service import coursework_by_code
    from grader.marking.service import set_mark
    from grader.users.models import User

    with sessions() as s:
        lee = s.scalars(select(User.id).where(User.username == "lee")).one()
        cw = coursework_by_code(session=s, code="cwa").id
        set_mark(
            session=s,
            student_id=people.student_ids["student"],
            coursework_id=cw,
            item_id="essay",
            score=2,
            by_user_id=lee,
            expected_version=None,
        )
    essay = by_id(view(client, people, graded)["items"])["essay"]
    assert essay["mark"]["scope"] == "coursework" and essay["mark"]["version"] == 1
    r = put_mark(client, people, graded, "essay", 3, 1)
    assert r.status_code == 200 and r.json()["mark"]["scope"] == "coursework" and r.json()["mark"]["version"] == 2
    assert count(sessions, ManualMark) == 1


def test_lifting_and_applying_a_penalty_changes_the_total(client, people, graded, sessions):
    r = put_penalty(client, people, graded, "layers", False, None, comment="a custom layer, not nn.Conv2d")
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["total"]["total"] == 5.0 and saved["total"]["penalty_points"] == 0.0
    penalty = saved["penalty"]
    assert penalty["applied"] is False and penalty["auto_applied"] is True and penalty["version"] == 1
    assert penalty["decision"]["decided_by"] == "gina" and penalty["decision"]["comment"].startswith("a custom")
    # A stale decision: 409 with the penalty as it stands, nothing written.
    r = put_penalty(client, people, graded, "layers", True, None, role="lecturer")
    assert r.status_code == 409 and r.json()["current"]["applied"] is False and r.json()["current"]["version"] == 1
    assert count(sessions, PenaltyDecision) == 1
    r = put_penalty(client, people, graded, "layers", True, 1, role="lecturer", comment="it wraps nn.Conv2d")
    assert r.status_code == 200 and r.json()["total"]["total"] == 3.0
    history = r.json()["penalty"]["history"]
    assert [(d["version"], d["applied"], d["decided_by"]) for d in history] == [(1, False, "gina"), (2, True, "lee")]
    assert by_id(view(client, people, graded)["penalties"])["layers"]["applied"] is True
    assert count(sessions, AuditEvent, AuditEvent.action == "penalty.decide") == 2
    # An unknown penalty, a wrong type: refused, nothing written.
    assert put_penalty(client, people, graded, "late", False, 2).status_code == 404
    assert put_penalty(client, people, graded, "layers", "no", 2).status_code == 422
    assert count(sessions, PenaltyDecision) == 2


def export_row(client, people, external_id):
    text = client.get(f"{API}/courseworks/cwa/export.csv", headers=people.headers["lecturer"]).text
    return next(r for r in csv.DictReader(io.StringIO(text)) if r["external_id"] == external_id)


def marks_row(client, people, external_id):
    rows = client.get(f"{API}/courseworks/cwa/marks", headers=people.headers["gta"]).json()["students"]
    return next(r for r in rows if r["external_id"] == external_id)


def test_the_counting_pick_changes_what_marks_and_export_show(client, people, settings, sessions):
    rubric = load_coursework("cwa", settings).rubric
    first = upload(client, people.headers["student"], notebook("x = 1")).json()["id"]
    grade_with(sessions, rubric, first)
    second = upload(client, people.headers["student"], notebook("x = 2")).json()["id"]
    grade_with(sessions, rubric, second, {**TESTS, "test_a.py::test_later": TestResult(TestOutcome.passed, 1.0, "")})
    # The rubric's rule: the latest in time counts.
    assert marks_row(client, people, "s1")["submission_id"] == second
    assert marks_row(client, people, "s1")["total"] == 8.0
    assert export_row(client, people, "s1")["submission_id"] == second
    assert view(client, people, first)["counting"] is False

    # Only a lecturer picks, and gives a reason.
    assert (
        client.post(
            f"{API}/submissions/{first}/counting", headers=people.headers["gta"], json={"reason": "x"}
        ).status_code
        == 403
    )
    assert (
        client.post(f"{API}/submissions/{first}/counting", headers=people.headers["lecturer"], json={}).status_code
        == 422
    )
    assert count(sessions, CountingChoice) == 0
    r = client.post(
        f"{API}/submissions/{first}/counting",
        headers=people.headers["lecturer"],
        json={"reason": "the second upload was a mistake (email of 3 Feb)"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["counting_submission_id"] == first and r.json()["choice"]["chosen_by"] == "lee"
    assert r.json()["student"]["external_id"] == "s1"
    row = marks_row(client, people, "s1")
    assert row["submission_id"] == first and row["total"] == 3.0
    assert export_row(client, people, "s1")["submission_id"] == first
    v = view(client, people, first)
    assert v["counting"] is True and v["counting_choice"]["reason"].startswith("the second upload")

    r = client.delete(f"{API}/submissions/{first}/counting", headers=people.headers["lecturer"])
    assert r.status_code == 200 and r.json()["choice"] is None and r.json()["counting_submission_id"] == second
    assert marks_row(client, people, "s1")["submission_id"] == second
    assert export_row(client, people, "s1")["submission_id"] == second
    # Deleting again changes nothing and audits nothing.
    assert client.delete(f"{API}/submissions/{first}/counting", headers=people.headers["lecturer"]).status_code == 200
    actions = [a for a in _audit_actions(sessions) if "counting" in a]
    assert actions == ["submission.choose_counting", "submission.clear_counting"]


def _audit_actions(sessions) -> list[str]:
    with sessions() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_identical_files_of_two_students_are_listed(client, people):
    same = notebook("copied = True")
    alice = upload(client, people.headers["student"], same).json()["id"]
    bob = upload(client, people.headers["other"], same).json()["id"]
    upload(client, people.headers["other"], notebook("my own = 1"))
    r = client.get(f"{API}/courseworks/cwa/duplicates", headers=people.headers["gta"])
    assert r.status_code == 200, r.text
    groups = r.json()["groups"]
    assert len(groups) == 1
    holders = groups[0]["submissions"]
    assert [(h["submission_id"], h["student"]["external_id"], h["path"], h["flagged"]) for h in holders] == [
        (alice, "s1", "cwa.ipynb", False),
        (bob, "s2", "cwa.ipynb", True),
    ]
    flag = view(client, people, bob)["duplicates"]
    assert len(flag) == 1 and flag[0]["other_submission_id"] == alice and flag[0]["other_is_earlier"] is True
    assert flag[0]["other_student"] == {"external_id": "s1", "name": "Alice", "pseudonym": None, "anonymous": False}
    assert flag[0]["sha256"] == groups[0]["sha256"] and flag[0]["path"] == "cwa.ipynb"
    original = view(client, people, alice, role="lecturer")["duplicates"]
    assert [(d["other_submission_id"], d["other_is_earlier"]) for d in original] == [(bob, False)]
    for role in ("student", "service"):
        assert client.get(f"{API}/courseworks/cwa/duplicates", headers=people.headers[role]).status_code == 403


def test_two_markers_deciding_a_penalty_at_once_cannot_both_win(client, people, graded, sessions):
    import threading
    import uuid

    from grader.marking.service import StaleDecision, decide_penalty
    from grader.submissions.models import Submission
    from grader.users.models import User

    sub_id = uuid.UUID(graded)
    outcome: dict[str, str] = {}
    with sessions() as a, sessions() as b:
        gina, lee = (a.scalars(select(User.id).where(User.username == n)).one() for n in ("gina", "lee"))
        sub_a = a.get(Submission, sub_id)
        a.execute(select(Submission.id).where(Submission.id == sub_id).with_for_update())  # A is deciding

        def marker_b():
            try:
                decide_penalty(
                    session=b,
                    submission=b.get(Submission, sub_id),
                    penalty_id="layers",
                    applied=False,
                    by_user_id=lee,
                    expected_version=None,
                )
                outcome["b"] = "saved"
            except StaleDecision:
                outcome["b"] = "stale"

        thread = threading.Thread(target=marker_b)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive(), "B must wait for A's decision on the same submission"
        decide_penalty(
            session=a, submission=sub_a, penalty_id="layers", applied=True, by_user_id=gina, expected_version=None
        )
        thread.join(30)
    assert outcome == {"b": "stale"}
    assert count(sessions, PenaltyDecision) == 1
