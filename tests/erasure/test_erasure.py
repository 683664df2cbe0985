"""Erasing one student: every row about them goes (submissions, runs, artifacts, marks and their
history, extensions, tokens, account, audit rows about them), the blobs only they used go, blobs
another student's rows still use stay, the erasure is audited without personal data, and nobody
else's data changes. Refused while the student is enrolled and within the retention period."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from backup_world import cli, table_contents
from sqlalchemy import select

from grader.audit.models import AuditEvent
from grader.blobs import LocalBlobStore
from grader.courseworks.models import Coursework
from grader.marking.allocations import allocate
from grader.submissions.models import Submission
from grader.users.models import User
from grader.webhooks.models import WebhookDelivery

ERASE = "/api/v1/roster/{}/erasure"


def contents(service) -> dict[str, list[tuple]]:
    return table_contents(service.engine, skip=frozenset({"last_used_at"}))


def erase(service, world, external_id: str, who: str = "lecturer", **body):
    payload = {"reason": "the student asked (email of 3 March)", "confirm": external_id, **body}
    return service.client.post(ERASE.format(external_id), headers=world.headers[who], json=payload)


def withdraw(service, world, external_id: str) -> None:
    r = service.client.put(
        f"/api/v1/roster/{external_id}/withdrawal", headers=world.headers["lecturer"], json={"reason": "left"}
    )
    assert r.status_code == 200, r.text


def rows_about(tables: dict[str, list[tuple]], columns: dict[str, list[str]], values: set) -> list[str]:
    """Rows (as table: row) with one of ``values`` in a column named in ``columns``."""
    found = []
    for table, names in columns.items():
        for row in tables[table]:
            if any(row[i] in values for i in range(len(row)) if names[i]):
                found.append(f"{table}: {row}")
    return found


def test_an_enrolled_student_within_retention_is_refused(service, world):
    before = contents(service)
    r = erase(service, world, "s1")
    assert r.status_code == 409 and "withdraw them first" in r.json()["detail"], r.text
    r = cli(service.settings, "erase", "s1", "--reason", "asked", "--by", "lee")
    assert r.exit_code == 1 and "withdraw them first" in r.output, r.output
    assert contents(service) == before


def test_bad_requests_change_nothing(service, world):
    withdraw(service, world, "s1")
    before = contents(service)
    r = erase(service, world, "s1", confirm="s2")
    assert r.status_code == 422 and "confirm" in r.json()["detail"], r.text
    for reason in ("", "   "):
        r = erase(service, world, "s1", reason=reason)
        assert r.status_code == 422 and "reason" in r.json()["detail"], r.text
    r = erase(service, world, "nobody")
    assert r.status_code == 404 and "nobody" in r.json()["detail"], r.text
    for who in ("gta", "student", "other"):
        assert erase(service, world, "s1", who=who).status_code == 403
    for args, words in [
        (["erase", "s1", "--reason", "asked", "--by", "gina"], "no active lecturer"),
        (["erase", "s1", "--by", "lee"], "--reason"),
        (["erase", "s1", "--reason", "asked"], "--by"),
        (["erase", "--expired", "s1"], "one STUDENT, or give --expired"),
        (["erase", "s1", "--dry-run", "--reason", "x", "--by", "lee"], "--dry-run goes with --expired"),
    ]:
        r = cli(service.settings, *args)
        assert r.exit_code == 2 and words in r.output, (args, r.output)
    assert contents(service) == before


def test_erasure_on_request_removes_the_student_and_keeps_what_others_use(service, world):
    store = LocalBlobStore(service.settings.blob_dir)
    with service.sessions() as session:
        alice_subs = {uuid.UUID(world.submissions[k]) for k in ("alice-shared", "alice-own")}
        alice_blobs = set(session.scalars(select(Submission.blob_key).where(Submission.id.in_(alice_subs))))
        alice_user = session.scalars(select(Submission.submitted_by_id).where(Submission.id.in_(alice_subs))).first()
    shared = world.receipts[world.submissions["bob-shared"]]
    assert shared in alice_blobs and len(alice_blobs) == 2
    before_keys = set(store.keys())
    # A course system hears of a mark changed after the release (a delivery naming her), and a
    # marker is allocated to her (an audit row naming her id).
    lecturer = world.headers["lecturer"]
    hook = {"url": "https://cate.example.ac.uk/hooks", "events": ["mark.changed_after_release", "marks.released"]}
    assert service.client.post("/api/v1/webhooks", headers=lecturer, json=hook).status_code == 201
    r = service.client.put(
        f"/api/v1/submissions/{world.submissions['alice-own']}/marks/talk",
        headers=lecturer,
        json={"score": 1.0, "comment": "after all", "expected_version": 2},
    )
    assert r.status_code == 200, r.text
    r = service.client.put(
        f"/api/v1/submissions/{world.submissions['bob-shared']}/marks/talk",
        headers=lecturer,
        json={"score": 1.0, "comment": "fine", "expected_version": None},
    )
    assert r.status_code == 200, r.text
    with service.sessions() as session:
        cw = session.scalars(select(Coursework.id)).one()
        gina = session.scalars(select(User.id).where(User.username == "gina")).one()
        lee = session.scalars(select(User.id).where(User.username == "lee")).one()
        allocate(
            session=session, coursework_id=cw, student_id=world.student_ids["student"], marker_id=gina, by_user_id=lee
        )
        deliveries = session.scalars(select(WebhookDelivery.payload)).all()
    assert sorted(p["data"]["student_external_id"] for p in deliveries) == ["s1", "s2"]
    bob = world.headers["other"]
    bob_reads = {
        path: service.client.get(path, headers=bob).content
        for path in (
            "/api/v1/courseworks/mini/submissions/mine",
            "/api/v1/courseworks/mini/marks/mine",
            f"/api/v1/submissions/{world.submissions['bob-shared']}/file",
        )
    }

    withdraw(service, world, "s1")
    r = erase(service, world, "s1")
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["grounds"] == "request"
    assert reply["rows"]["submissions"] == 2 and reply["rows"]["mark_changes"] == 3 and reply["rows"]["users"] == 1
    # Her own notebook and her run's artifact are gone; the notebook bob also submitted is kept.
    assert reply["blobs_removed"] == 2 and reply["blobs_kept"] == 1
    after_keys = set(store.keys())
    assert shared in after_keys and len(before_keys - after_keys) == 2

    tables = contents(service)
    sid, subs = world.student_ids["student"], {str(s) for s in alice_subs} | alice_subs
    # overview_changes is left out: the trigger-written log of which overview rows changed holds
    # bare ids (its own deletions are logged there, so open overview pages drop her row).
    by_table = {
        t.name: [c.name in ("student_id", "submission_id", "duplicate_of_id", "superseded_by_id") for c in t.columns]
        for t in _tables()
        if t.name != "overview_changes"
    }
    assert rows_about(tables, by_table, {sid} | subs) == []
    user_cols = {t.name: [c.name in ("user_id", "actor_id", "submitted_by_id") for c in t.columns] for t in _tables()}
    assert rows_about(tables, user_cols, {alice_user}) == []
    assert not any(row[1] == "alice" for row in tables["users"])
    # Her token no longer opens anything.
    assert service.client.get("/api/v1/courseworks", headers=world.headers["student"]).status_code == 401
    # Bob reads exactly what he read before.
    for path, body in bob_reads.items():
        r = service.client.get(path, headers=bob)
        assert (r.status_code, r.content) == (200, body), path

    # The delivery about her went; the one about bob stayed. The allocation's audit row names nobody.
    with service.sessions() as session:
        deliveries = session.scalars(select(WebhookDelivery.payload)).all()
        allocated = session.scalars(select(AuditEvent).where(AuditEvent.action == "marking.allocate")).one()
    assert [p["data"]["student_external_id"] for p in deliveries] == ["s2"]
    assert allocated.details == {"student_id": "[erased]", "marker_id": gina}

    # Audited, without personal data: no name, username, email or external id anywhere in the log.
    with service.sessions() as session:
        events = session.scalars(select(AuditEvent)).all()
        log = json.dumps([[e.action, e.subject_type, e.subject_id, e.details] for e in events]).lower()
        erased = [e for e in events if e.action == "student.erase"]
    for personal in ("alice", "smith", "@example", '"s1"'):
        assert personal not in log, personal
    assert len(erased) == 1 and erased[0].details["grounds"] == "request"
    assert erased[0].details["reason"] == "the student asked (email of 3 March)"
    assert erased[0].details["rows"] == reply["rows"] and erased[0].subject_id == str(sid)


def test_the_cli_erases_and_the_last_user_of_a_blob_takes_it(service, world):
    store = LocalBlobStore(service.settings.blob_dir)
    shared = world.receipts[world.submissions["bob-shared"]]
    withdraw(service, world, "s2")
    r = cli(service.settings, "erase", "s2", "--reason", "asked by email", "--by", "lee")
    assert r.exit_code == 0, r.output
    assert "erased s2 (request)" in r.output and "1 shared blobs kept" in r.output
    assert store.exists(shared)  # alice still uses it
    withdraw(service, world, "s1")
    r = cli(service.settings, "erase", "s1", "--reason", "asked by email", "--by", "lee")
    assert r.exit_code == 0, r.output
    assert not store.exists(shared)  # nobody does now
    r = cli(service.settings, "erase", "s1", "--reason", "twice", "--by", "lee")
    assert r.exit_code == 1 and "no student 's1'" in r.output, r.output


def test_erase_expired_lists_then_erases_everyone_past_retention(service, world):
    past = service.settings.model_copy(update={"module_end": dt.date(2020, 6, 30), "retention_days": 30})
    before = contents(service)
    r = cli(past, "erase", "--expired", "--dry-run")
    assert r.exit_code == 0, r.output
    assert r.stdout.split() == ["s1", "s2", "s3"] and "would erase 3 students" in r.output
    assert contents(service) == before
    # Within the period (the module's end from the latest deadline, 2099): nobody.
    r = cli(service.settings, "erase", "--expired", "--dry-run")
    assert r.exit_code == 0 and r.stdout.split() == [], r.output
    r = cli(past, "erase", "--expired")
    assert r.exit_code == 0, r.output
    assert r.output.count("(retention)") == 3
    tables = contents(service)
    assert tables["students"] == [] and tables["submissions"] == [] and tables["mark_changes"] == []
    assert {row[1] for row in tables["users"]} == {"gina", "lee"}
    assert list(LocalBlobStore(service.settings.blob_dir).keys()) == []
    with service.sessions() as session:
        erased = session.scalars(select(AuditEvent).where(AuditEvent.action == "student.erase")).all()
    assert len(erased) == 3 and {e.actor_id for e in erased} == {None}
    assert all(e.details["grounds"] == "retention" for e in erased)


def _tables():
    from grader.tables import metadata

    return metadata.sorted_tables
