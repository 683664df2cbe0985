"""What a student sees of their marks before and after release (docs/security.md's visibility table),
what markers see, release, regrade and the CSV export."""

from __future__ import annotations

import csv
import io

from api_kit import grade, notebook, upload

from grader.marking.service import set_mark
from grader.rubrics.loader import load_coursework


def _graded_submission(client, people, settings, sessions) -> tuple[str, int]:
    sub = upload(client, people.headers["student"], notebook()).json()
    rubric = load_coursework("cwa", settings).rubric
    run_id = grade(sessions, rubric, sub["id"])
    with sessions() as s:
        lee = people_user_id(s, "lee")
        cw_id = coursework_id(s)
        set_mark(
            session=s,
            student_id=people.student_ids["student"],
            coursework_id=cw_id,
            item_id="essay",
            score=4,
            by_user_id=lee,
            expected_version=None,
            comment="clear argument",
        )
    return sub["id"], run_id


def people_user_id(session, username: str) -> int:
    from sqlalchemy import select

    from grader.users.models import User

    return session.scalars(select(User.id).where(User.username == username)).one()


def coursework_id(session) -> int:
    from grader.courseworks.service import coursework_by_code

    return coursework_by_code(session=session, code="cwa").id


def by_id(entries):
    return {e["id"]: e for e in entries}


def test_visibility_before_and_after_release(client, people, settings, sessions):
    sub_id, _ = _graded_submission(client, people, settings, sessions)
    mine = client.get("/api/v1/courseworks/cwa/marks/mine", headers=people.headers["student"])
    assert mine.status_code == 200, mine.text
    before = mine.json()
    assert before["released"] is False and before["status"] == "graded" and before["submission_id"] == sub_id
    items = by_id(before["items"])
    # visible: name, score, message
    assert items["shown"] == {
        "id": "shown",
        "title": "Shown item",
        "score": 2.0,
        "max_score": 5.0,
        "message": "shape (3, 3) expected, got (3, 4)",
    }
    # after_release: name only
    assert items["later"] == {"id": "later", "title": "Later item"}
    # hidden: nothing; manual items and comments: only after release
    assert "secret" not in items and "essay" not in items
    assert "total" not in before and "secret" not in mine.text and "clear argument" not in mine.text

    r = client.post("/api/v1/courseworks/cwa/release", headers=people.headers["lecturer"], json={"note": "marks out"})
    assert r.status_code == 200 and r.json()["released_at"]

    after = client.get("/api/v1/courseworks/cwa/marks/mine", headers=people.headers["student"]).json()
    assert after["released"] is True
    items = by_id(after["items"])
    assert items["shown"]["score"] == 2.0 and items["shown"]["message"].startswith("shape")
    assert items["later"] == {
        "id": "later",
        "title": "Later item",
        "score": 0.0,
        "max_score": 5.0,
        "message": "later: wrong values",
    }
    # hidden: name and score, never its message
    assert items["secret"] == {"id": "secret", "title": "Secret item", "score": 3.0, "max_score": 5.0}
    assert items["essay"] == {
        "id": "essay",
        "title": "Essay",
        "score": 4.0,
        "max_score": 5.0,
        "comment": "clear argument",
    }
    assert after["total"] == 9.0 and after["max_score"] == 20.0
    assert "hidden expected" not in str(after)


def test_other_student_sees_none_of_it(client, people, settings, sessions):
    sub_id, _ = _graded_submission(client, people, settings, sessions)
    client.post("/api/v1/courseworks/cwa/release", headers=people.headers["lecturer"])
    theirs = client.get("/api/v1/courseworks/cwa/marks/mine", headers=people.headers["other"]).json()
    assert theirs["status"] == "no_submission" and "total" not in theirs
    assert sub_id not in str(theirs)
    for path in (f"/api/v1/submissions/{sub_id}", f"/api/v1/submissions/{sub_id}/file"):
        r = client.get(path, headers=people.headers["other"])
        assert r.status_code == 404 and r.json() == {"detail": "no such submission."}


def test_markers_see_every_student(client, people, settings, sessions):
    sub_id, run_id = _graded_submission(client, people, settings, sessions)
    for role in ("gta", "lecturer", "service"):
        r = client.get("/api/v1/courseworks/cwa/marks", headers=people.headers[role])
        assert r.status_code == 200, r.text
        rows = {row["external_id"]: row for row in r.json()["students"]}
        assert list(rows) == ["s1", "s2", "s3"]
        alice = rows["s1"]
        assert alice["submission_id"] == sub_id and alice["run_id"] == run_id
        assert alice["auto_score"] == 5.0 and alice["total"] == 9.0
        lines = by_id(alice["items"])
        assert lines["essay"]["source"] == "manual" and lines["essay"]["score"] == 4.0
        assert lines["secret"] == {"id": "secret", "score": 3.0, "max_score": 5.0, "source": "auto", "auto_score": 3.0}
        assert rows["s2"]["status"] == "no_submission" and rows["s2"]["total"] is None


def test_export_lists_the_roster_in_order_with_non_submitters(client, people, settings, sessions):
    sub_id, _ = _graded_submission(client, people, settings, sessions)
    r = client.get("/api/v1/courseworks/cwa/export.csv", headers=people.headers["lecturer"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["external_id"] for row in rows] == ["s1", "s2", "s3"]
    assert rows[0]["submission_id"] == sub_id and rows[0]["total"] == "9" and rows[0]["max_score"] == "20"
    assert rows[2] == {**rows[2], "status": "no_submission", "submission_id": "", "total": ""}


def test_regrade_queues_a_new_run(client, people, settings, sessions, woken):
    sub_id, run_id = _graded_submission(client, people, settings, sessions)
    r = client.post(f"/api/v1/submissions/{sub_id}/regrade", headers=people.headers["gta"])
    assert r.status_code == 202, r.text
    new = r.json()["run"]
    assert new["id"] != run_id and new["status"] == "queued"
    assert woken[-1] == (new["id"], "cpu")
    # Asking again while it is queued gives the same run.
    again = client.post(f"/api/v1/submissions/{sub_id}/regrade", headers=people.headers["lecturer"]).json()
    assert again["run"]["id"] == new["id"]
    status = client.get(f"/api/v1/submissions/{sub_id}", headers=people.headers["student"]).json()
    assert status["status"] == "queued" and len(status["runs"]) == 3  # the upload's pre-check, two full runs


def test_roster_import(client, people):
    body = {"students": [{"external_id": "s4", "name": "Dan"}, {"external_id": "s3", "name": "Carol B"}]}
    r = client.post("/api/v1/roster", headers=people.headers["service"], json=body)
    assert r.status_code == 200 and r.json() == {"created": 1, "updated": 1, "unchanged": 0}
    bad = client.post("/api/v1/roster", headers=people.headers["lecturer"], json={"students": [{"name": "x"}]})
    assert bad.status_code == 422 and isinstance(bad.json()["detail"], str)
    assert "external_id" in bad.json()["detail"]


def test_a_token_without_the_scope_is_refused(client, people, sessions):
    from sqlalchemy import select

    from grader.users.models import User
    from grader.users.service import create_token

    with sessions() as s:
        alice = s.scalars(select(User).where(User.username == "alice")).one()
        secret, _ = create_token(session=s, user=alice, name="read only", scopes=["read"])
    r = upload(client, {"Authorization": f"Bearer {secret}"}, notebook())
    assert r.status_code == 403 and "'submit' scope" in r.json()["detail"]
    assert (
        client.get(
            "/api/v1/courseworks/cwa/submissions/mine", headers={"Authorization": f"Bearer {secret}"}
        ).status_code
        == 200
    )
