"""Deadline night: one extension for the whole cohort, by API and CLI. Every student's late minutes
follow, a longer individual extension stays, the action is audited, bad input changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from api_kit import notebook, upload
from click.testing import CliRunner
from sqlalchemy import select, update

from grader.audit.models import AuditEvent
from grader.cli import main
from grader.courseworks.models import Coursework, DeadlineExtension
from grader.roster.models import Student
from grader.settings import get_settings

URL = "/api/v1/courseworks/cwa/extensions/cohort"


@pytest.fixture
def deadline(sessions) -> dt.datetime:
    """cwa's deadline three hours ago (the rubric's is in 2099)."""
    when = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=3)
    with sessions() as session:
        session.execute(update(Coursework).where(Coursework.code == "cwa").values(deadline=when))
        session.commit()
    return when


def _extensions(sessions) -> dict[str, tuple[dt.datetime, str]]:
    with sessions() as session:
        rows = session.execute(
            select(Student.external_id, DeadlineExtension.deadline, DeadlineExtension.reason).join(
                DeadlineExtension, DeadlineExtension.student_id == Student.id
            )
        )
        return {ext: (when, reason) for ext, when, reason in rows}


def test_the_cohort_is_extended_in_one_action_and_late_minutes_follow(client, people, sessions, deadline):
    late = upload(client, people.headers["student"], notebook()).json()
    assert late["late"] and late["late_minutes"] >= 179
    lecturer = people.headers["lecturer"]
    # Bob already has a longer extension (a doctor's letter): it stays.
    r = client.put(
        "/api/v1/courseworks/cwa/extensions/s2", headers=lecturer, json={"deadline": "+2 days", "reason": "flu"}
    )
    assert r.status_code == 200, r.text

    r = client.post(URL, headers=lecturer, json={"deadline": "+4 hours", "reason": "upload outage 14:10-15:40"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["granted"], body["kept"], body["late_submissions"]) == (2, 1, 0)  # s1, s3 extended; s2 kept
    held = _extensions(sessions)
    assert held["s1"] == (deadline + dt.timedelta(hours=4), "upload outage 14:10-15:40")
    assert held["s3"][0] == deadline + dt.timedelta(hours=4)
    assert held["s2"] == (deadline + dt.timedelta(days=2), "flu")
    mine = client.get("/api/v1/courseworks/cwa/submissions/mine", headers=people.headers["student"]).json()
    assert [s["late_minutes"] for s in mine] == [0]
    own = client.get("/api/v1/courseworks/cwa/deadline/mine", headers=people.headers["student"]).json()
    assert own["extended"] and "outage" not in str(own)

    # Again, same deadline: nothing changes but the record of the action.
    again = client.post(URL, headers=lecturer, json={"deadline": "+4 hours", "reason": "upload outage"}).json()
    assert (again["granted"], again["kept"]) == (0, 3)
    with sessions() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "extension.cohort")).all()
        per_student = session.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == "student")).all()
    assert [e.details["granted"] for e in events] == [2, 0]
    assert events[0].details["reason"] == "upload outage 14:10-15:40" and events[0].actor_id is not None
    assert per_student.count("extension.grant") == 3  # s2 by hand, s1 and s3 by the cohort action


@pytest.mark.parametrize(
    "body, status, says",
    [
        ({"deadline": "+2 hours", "reason": "   "}, 422, "give a reason"),
        ({"deadline": "+2 hours"}, 422, "reason"),
        ({"deadline": "whenever", "reason": "outage"}, 422, "not a deadline"),
        ({"deadline": "2020-01-01 10:00", "reason": "outage"}, 422, "only move the deadline later"),
        ({"deadline": "+0", "reason": "outage"}, 422, "must add time"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(client, people, sessions, deadline, body, status, says):
    r = client.post(URL, headers=people.headers["lecturer"], json=body)
    assert r.status_code == status and says in r.text, r.text
    assert _extensions(sessions) == {}


def test_only_a_lecturer_extends_the_cohort(client, people, sessions, deadline):
    for who in ("student", "gta", "service", "anonymous"):
        r = client.post(URL, headers=people.headers[who], json={"deadline": "+1 hour", "reason": "outage"})
        assert r.status_code in (401, 403), (who, r.status_code)
    assert client.post(URL.replace("cwa", "nope"), headers=people.headers["lecturer"], json={}).status_code in (
        404,
        422,
    )
    assert _extensions(sessions) == {}


@pytest.fixture
def cli(client, people, api_pg_url, monkeypatch):
    monkeypatch.setenv("GRADER_DATABASE_URL", api_pg_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_extends_the_cohort(cli, sessions, deadline):
    r = cli.invoke(
        main,
        ["extensions", "cohort", "-c", "cwa", "--deadline", "+90 minutes", "--reason", "Redis down", "--by", "lee"],
    )
    assert r.exit_code == 0, r.output
    assert "3 extended, 0 kept" in r.output
    assert {when for when, _ in _extensions(sessions).values()} == {deadline + dt.timedelta(minutes=90)}
    no_reason = cli.invoke(main, ["extensions", "cohort", "-c", "cwa", "--deadline", "+2 hours"])
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    blank = cli.invoke(main, ["extensions", "cohort", "-c", "cwa", "--deadline", "+2 hours", "--reason", " "])
    assert blank.exit_code == 2 and "give a reason" in blank.output
    assert cli.invoke(main, ["extensions", "cohort", "-c", "zz", "--deadline", "+2", "--reason", "x"]).exit_code == 2
    bad = cli.invoke(main, ["extensions", "cohort", "-c", "cwa", "--deadline", "soon", "--reason", "x"])
    assert bad.exit_code == 2 and "not a deadline" in bad.output
    assert {when for when, _ in _extensions(sessions).values()} == {deadline + dt.timedelta(minutes=90)}
