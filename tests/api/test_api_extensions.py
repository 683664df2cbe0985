"""Extensions and mitigating circumstances through the API: granted, changed and revoked by a
lecturer (one student or a CSV), audited, followed by the late minutes, the submission that counts
and the total; reasons hidden from anonymous markers; students see only their own deadline."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from api_kit import grade, notebook, upload
from sqlalchemy import select, update

from grader.audit.models import AuditEvent
from grader.courseworks.models import Coursework, DeadlineExtension, MitigatingCircumstance
from grader.marking.allocations import set_anonymous
from grader.submissions.models import Submission
from grader.users.models import User

HOURS = dt.timedelta(hours=1)


@pytest.fixture
def deadline(sessions) -> dt.datetime:
    """cwa's deadline moved two and a half days into the past (the rubric's is in 2099)."""
    when = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=2, hours=12)
    with sessions() as session:
        session.execute(update(Coursework).where(Coursework.code == "cwa").values(deadline=when))
        session.commit()
    return when


def _url(kind: str = "extensions", ext: str = "s1") -> str:
    return f"/api/v1/courseworks/cwa/{kind}/{ext}"


def _actions(sessions) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_grant_change_revoke_follow_the_late_minutes(client, people, sessions, deadline):
    sub = upload(client, people.headers["student"], notebook()).json()
    assert sub["late"] and sub["late_minutes"] > 2 * 24 * 60
    lecturer = people.headers["lecturer"]

    r = client.put(_url(), headers=lecturer, json={"deadline": "+4320", "reason": "flu, GP letter"})
    assert r.status_code == 200, r.text
    assert r.json()["deadline"].startswith((deadline + dt.timedelta(days=3)).isoformat()[:16])
    mine = client.get("/api/v1/courseworks/cwa/submissions/mine", headers=people.headers["student"]).json()
    assert [s["late_minutes"] for s in mine] == [0]
    own = client.get("/api/v1/courseworks/cwa/deadline/mine", headers=people.headers["student"]).json()
    assert own["extended"] and own["deadline"] == r.json()["deadline"] and "reason" not in own
    other = client.get("/api/v1/courseworks/cwa/deadline/mine", headers=people.headers["other"]).json()
    assert not other["extended"] and other["deadline"] == other["coursework_deadline"]

    # Changed to a shorter one: late again by the difference.
    r = client.put(_url(), headers=lecturer, json={"deadline": "+1 day", "reason": "flu"})
    assert r.status_code == 200, r.text
    mine = client.get("/api/v1/courseworks/cwa/submissions/mine", headers=people.headers["student"]).json()
    assert 0 < mine[0]["late_minutes"] <= 36 * 60 + 1

    assert client.delete(_url(), headers=lecturer).status_code == 204
    mine = client.get("/api/v1/courseworks/cwa/submissions/mine", headers=people.headers["student"]).json()
    assert mine[0]["late_minutes"] == sub["late_minutes"]  # the coursework's deadline again
    again = client.delete(_url(), headers=lecturer)
    assert again.status_code == 404 and "no extension" in again.json()["detail"]
    assert _actions(sessions)[-3:] == ["extension.grant", "extension.change", "extension.revoke"]


@pytest.mark.parametrize(
    "body, says",
    [
        ({"deadline": "whenever"}, "not a deadline"),
        ({"deadline": "+0"}, "must add time"),
        ({"deadline": "2020-01-01 10:00"}, "only move the deadline later"),
    ],
)
def test_a_bad_extension_is_refused_and_changes_nothing(client, people, sessions, deadline, body, says):
    r = client.put(_url(), headers=people.headers["lecturer"], json=body)
    assert r.status_code == 422 and says in r.json()["detail"], r.text
    with sessions() as session:
        assert session.scalars(select(DeadlineExtension)).all() == []


def test_unknown_student_is_404_and_students_may_not_grant(client, people, deadline):
    r = client.put(_url(ext="nobody"), headers=people.headers["lecturer"], json={"deadline": "+60"})
    assert r.status_code == 404 and "nobody" in r.json()["detail"]
    for who in ("student", "gta", "service"):
        assert client.put(_url(), headers=people.headers[who], json={"deadline": "+60"}).status_code == 403
    assert client.get("/api/v1/courseworks/cwa/extensions", headers=people.headers["student"]).status_code == 403


def test_the_counting_submission_follows_the_extension(client, people, sessions, deadline):
    first = upload(client, people.headers["student"], notebook("a = 1")).json()
    second = upload(client, people.headers["student"], notebook("a = 2")).json()
    with sessions() as session:  # the first came a day after the deadline, the second now
        session.execute(
            update(Submission)
            .where(Submission.id == uuid.UUID(first["id"]))
            .values(received_at=deadline + dt.timedelta(days=1))
        )
        session.commit()

    def counting() -> str:
        return client.get("/api/v1/courseworks/cwa/marks/mine", headers=people.headers["student"]).json()[
            "submission_id"
        ]

    assert counting() == second["id"]  # none in time: the latest
    lecturer = people.headers["lecturer"]
    assert client.put(_url(), headers=lecturer, json={"deadline": "+2 days"}).status_code == 200
    assert counting() == first["id"]  # in time under the extension: the latest in time
    assert client.delete(_url(), headers=lecturer).status_code == 204
    assert counting() == second["id"]


def test_penalty_waived_restores_the_total_and_keeps_the_lateness(client, people, sessions, deadline):
    sub = upload(client, people.headers["student"], notebook()).json()
    grade(sessions, client.app.state.courseworks["cwa"].rubric, sub["id"])
    lecturer = people.headers["lecturer"]

    def marking() -> dict:
        return client.get(f"/api/v1/submissions/{sub['id']}/marking", headers=lecturer).json()["total"]

    late = marking()
    assert late["before_late"] == 5 and late["total"] == pytest.approx(3.5)  # 3 started days x 0.1
    r = client.put(_url("mitigations"), headers=lecturer, json={"reason": "hospital stay"})
    assert r.status_code == 200 and r.json()["penalty_waived"], r.text
    waived = marking()
    assert waived["total"] == 5 and waived["late_minutes"] == late["late_minutes"]
    assert waived["late_label"] == "late, penalty waived"
    row = client.get("/api/v1/courseworks/cwa/marks", headers=lecturer).json()["students"][0]
    assert row["total"] == 5 and row["late_minutes"] == late["late_minutes"]
    assert row["late"] == "late, penalty waived"

    assert client.delete(_url("mitigations"), headers=lecturer).status_code == 204
    assert marking()["total"] == pytest.approx(3.5)
    assert client.delete(_url("mitigations"), headers=lecturer).status_code == 404
    assert _actions(sessions)[-2:] == ["mitigation.record", "mitigation.withdraw"]


def test_csv_import_refuses_a_bad_file_whole_and_grants_a_good_one(client, people, sessions, deadline):
    lecturer = people.headers["lecturer"]
    bad = "external_id,coursework,deadline,reason\ns1,cwa,+60,ok\ns9,cwa,+60,who\ns2,cw9,+60,what\ns3,cwa,soon,when\n"
    r = client.post("/api/v1/extensions/import", headers=lecturer, json={"csv": bad})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "nothing was stored" in detail and "line 3" in detail and "line 4" in detail and "line 5" in detail
    assert "line 2" not in detail
    with sessions() as session:
        assert session.scalars(select(DeadlineExtension)).all() == []

    good = "s1,cwa,+60,ok\ns3,cwa,+2 days,carer\n"
    r = client.post("/api/v1/extensions/import", headers=lecturer, json={"csv": good})
    assert r.status_code == 200 and r.json() == {"granted": 2}, r.text
    listed = client.get("/api/v1/courseworks/cwa/extensions", headers=lecturer).json()["students"]
    assert [(s["external_id"], s["extension_reason"]) for s in listed] == [("s1", "ok"), ("s3", "carer")]
    assert _actions(sessions)[-3:] == ["extension.grant", "extension.grant", "extension.import"]
    assert (
        client.post("/api/v1/extensions/import", headers=people.headers["gta"], json={"csv": good}).status_code == 403
    )


def test_reasons_are_hidden_from_markers_while_marking_is_anonymous(client, people, sessions, deadline):
    lecturer = people.headers["lecturer"]
    client.put(_url(), headers=lecturer, json={"deadline": "+3 days", "reason": "REASON-EXT Alice's surgery"})
    client.put(_url("mitigations"), headers=lecturer, json={"reason": "REASON-MIT bereavement"})

    def listed(who: str) -> dict:
        r = client.get("/api/v1/courseworks/cwa/extensions", headers=people.headers[who])
        assert r.status_code == 200, r.text
        return r.json()["students"][0]

    assert listed("gta")["extension_reason"].startswith("REASON-EXT")  # not anonymous: markers may read them
    with sessions() as session:
        cw = session.scalars(select(Coursework.id).where(Coursework.code == "cwa")).one()
        lee = session.scalars(select(User.id).where(User.username == "lee")).one()
        set_anonymous(session=session, coursework_id=cw, anonymous=True, by_user_id=lee)
    gta = client.get("/api/v1/courseworks/cwa/extensions", headers=people.headers["gta"])
    assert "REASON" not in gta.text and "Alice" not in gta.text and "s1" not in gta.text
    row = gta.json()["students"][0]
    assert row["extension_reason"] is None and row["mitigation_reason"] is None and row["penalty_waived"]
    assert row["pseudonym"] and row["external_id"] is None
    lee_row = listed("lecturer")
    assert lee_row["extension_reason"].startswith("REASON-EXT") and lee_row["mitigation_reason"].startswith(
        "REASON-MIT"
    )
    with sessions() as session:
        assert session.scalars(select(MitigatingCircumstance.reason)).one().startswith("REASON-MIT")
