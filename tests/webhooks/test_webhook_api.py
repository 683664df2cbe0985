"""The webhook API on the real app (Postgres): register, list, delete, deliveries; bad input is a
4xx that stores nothing; secrets are never shown after creation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gradebook_factory import TESTS, graded_report
from sqlalchemy import Engine, select, text
from webhook_kit import SECRET_KEY, leased_run

from grader.audit.models import AuditEvent
from grader.runs.service import complete_run
from grader.server import create_app
from grader.settings import Settings
from grader.users.models import Role
from grader.users.service import create_token, create_user
from grader.webhooks.models import WebhookDelivery, WebhookEndpoint
from grader.webhooks.sealing import SecretBox

SECRET = "whsec_" + "q" * 40
HOOK = "https://labts.example.ac.uk/hooks/grader"


@pytest.fixture
def client(tmp_path: Path, pg_url: str, engine: Engine, sessions) -> Iterator[TestClient]:
    settings = Settings(
        rubrics_dir=tmp_path / "rubrics",
        database_url=pg_url,
        blob_dir=tmp_path / "blobs",
        broker_url="filesystem://",
        broker_dir=tmp_path / "broker",
        secret_key=SECRET_KEY,
    )
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


@pytest.fixture
def headers(client, sessions) -> dict[str, dict[str, str]]:
    out = {}
    with sessions() as session:
        for role in Role:
            user = create_user(session=session, username=f"{role.value}-user", role=role)
            # A staff-level course system here; tests/visibility covers the student view.
            view = "staff" if role is Role.service else None
            out[role.value] = {"Authorization": f"Bearer {create_token(session=session, user=user, view=view)[0]}"}
        narrow = create_user(session=session, username="narrow", role=Role.service)
        out["service-read-only"] = {
            "Authorization": f"Bearer {create_token(session=session, user=narrow, scopes=['read'])[0]}"
        }
    return out


def register(client, headers, **body):
    return client.post("/api/v1/webhooks", headers=headers, json={"url": HOOK, **body})


def test_register_list_and_delete(client, headers, sessions):
    lee = headers["lecturer"]
    given = register(client, lee, secret=SECRET, description="LabTS marks", events=["submission.graded"])
    assert given.status_code == 201, given.text
    assert given.json()["secret"] is None  # the caller knows it; it is never sent back
    generated = register(client, headers["service"], events=["submission.grading_failed", "submission.graded"])
    assert generated.status_code == 201, generated.text
    secret = generated.json()["secret"]
    assert secret.startswith("whsec_") and len(secret) >= 32
    assert generated.json()["events"] == ["submission.graded", "submission.grading_failed"]

    listed = client.get("/api/v1/webhooks", headers=headers["service"])
    assert listed.status_code == 200
    assert [(w["id"], w["url"], w["active"]) for w in listed.json()] == [
        (given.json()["id"], HOOK, True),
        (generated.json()["id"], HOOK, True),
    ]
    assert listed.json()[0]["description"] == "LabTS marks"
    assert SECRET not in listed.text and secret not in listed.text and "secret" not in listed.text
    with sessions() as session:  # stored sealed: the raw column never holds a secret, the key opens it
        raw = list(session.execute(text("SELECT secret FROM webhook_endpoints ORDER BY id")).scalars())
        assert all(SECRET not in r and secret not in r for r in raw)
        assert [SecretBox(SECRET_KEY).open(r) for r in raw] == [SECRET, secret]
        audit = session.scalars(select(AuditEvent).where(AuditEvent.subject_type == "webhook")).all()
        assert [a.action for a in audit] == ["webhook.add", "webhook.add"]
        assert all(SECRET not in str(a.details) and secret not in str(a.details) for a in audit)

    gone = client.delete(f"/api/v1/webhooks/{given.json()['id']}", headers=lee)
    assert gone.status_code == 204 and gone.content == b""
    assert client.delete(f"/api/v1/webhooks/{given.json()['id']}", headers=lee).status_code == 404
    assert [w["id"] for w in client.get("/api/v1/webhooks", headers=lee).json()] == [generated.json()["id"]]


@pytest.mark.parametrize(
    "body, why",
    [
        ({"url": "ftp://labts.example.ac.uk/x"}, "http"),
        ({"url": "file:///etc/passwd"}, "http"),
        ({"url": "not a url"}, "http"),
        ({"url": "https://"}, "host"),
        ({"url": "https://me:pw@labts.example.ac.uk/"}, "password"),
        ({"url": "https://labts.example.ac.uk/" + "a" * 2000}, "url"),
        ({"secret": "too-short-a-secret"}, "secret"),
        ({"secret": "s" * 201}, "secret"),
        ({"events": ["submission.deleted"]}, "unknown events"),
        ({"events": []}, "at least one"),
        ({"url": None}, "url"),
        # Internal addresses, in every spelling a resolver accepts: refused before anything is stored.
        ({"url": "http://127.0.0.1:8080/hook"}, "loopback"),
        ({"url": "http://[::1]/hook"}, "loopback"),
        ({"url": "http://[::ffff:127.0.0.1]/hook"}, "loopback"),
        ({"url": "http://2130706433/hook"}, "loopback"),
        ({"url": "http://0177.0.0.1/hook"}, "loopback"),
        ({"url": "http://0x7f.1/hook"}, "loopback"),
        ({"url": "http://0.0.0.0:5432/"}, "unspecified"),
        ({"url": "http://localhost:6379/"}, "loopback"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "link-local"),
        ({"url": "http://[fe80::1]/"}, "link-local"),
        ({"url": "https://10.0.0.5/hook"}, "private"),
        ({"url": "http://192.168.1.10/hook"}, "private"),
    ],
)
def test_bad_registrations_are_refused_and_store_nothing(client, headers, sessions, body, why):
    r = client.post("/api/v1/webhooks", headers=headers["lecturer"], json={"url": HOOK, **body})
    assert r.status_code == 422, r.text
    assert why in r.json()["detail"]
    with sessions() as session:
        assert session.scalars(select(WebhookEndpoint)).all() == []
        assert session.scalars(select(AuditEvent).where(AuditEvent.subject_type == "webhook")).all() == []


@pytest.mark.parametrize("who, status", [("student", 403), ("gta", 403), ("service-read-only", 403), (None, 401)])
def test_only_lecturers_and_service_accounts_manage_webhooks(client, headers, who, status):
    h = headers[who] if who else {}
    assert register(client, h).status_code == status
    assert client.get("/api/v1/webhooks", headers=h).status_code == status


def test_an_endpoints_recent_deliveries(client, headers, sessions):
    lee = headers["lecturer"]
    hook = register(client, lee, secret=SECRET).json()["id"]
    other = register(client, lee, secret=SECRET).json()["id"]
    with sessions() as session:
        for _ in range(3):
            complete_run(session=session, lease=leased_run(session), report=graded_report(), tests=TESTS)
    r = client.get(f"/api/v1/webhooks/{hook}/deliveries", headers=headers["service"], params={"limit": 2})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert len(rows) == 2 and all(d["status"] == "pending" and d["attempts"] == 0 for d in rows)
    assert rows[0]["id"] > rows[1]["id"]  # newest first
    assert rows[0]["payload"]["type"] == "submission.graded" == rows[0]["event_type"]
    assert rows[0]["payload"]["id"] == rows[0]["event_id"]
    assert SECRET not in r.text
    assert client.get("/api/v1/webhooks/999/deliveries", headers=lee).status_code == 404
    assert client.get(f"/api/v1/webhooks/{hook}/deliveries", headers=lee, params={"limit": 0}).status_code == 422

    # Deleting an endpoint drops what was still waiting for it, and only that.
    assert client.delete(f"/api/v1/webhooks/{hook}", headers=lee).status_code == 204
    with sessions() as session:
        assert set(session.scalars(select(WebhookDelivery.endpoint_id))) == {other}
    assert client.get(f"/api/v1/webhooks/{hook}/deliveries", headers=lee).status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/webhooks/abc", "/api/v1/webhooks/0", "/api/v1/webhooks/99999999999"])
def test_bad_ids_are_a_4xx(client, headers, path):
    assert client.delete(path, headers=headers["lecturer"]).status_code == 422


def test_an_allow_listed_internal_host_may_be_registered(client, headers, tmp_path, pg_url, engine):
    settings = Settings(
        rubrics_dir=tmp_path / "rubrics",
        database_url=pg_url,
        blob_dir=tmp_path / "blobs",
        broker_url="filesystem://",
        broker_dir=tmp_path / "broker",
        secret_key=SECRET_KEY,
        webhook_allowed_hosts=["127.0.0.1"],
    )
    with TestClient(create_app(settings, engine=engine)) as allowing:
        ok = allowing.post("/api/v1/webhooks", headers=headers["lecturer"], json={"url": "http://127.0.0.1:9/h"})
        assert ok.status_code == 201, ok.text
        other = allowing.post("/api/v1/webhooks", headers=headers["lecturer"], json={"url": "http://[::1]:9/h"})
        assert other.status_code == 422 and "loopback" in other.json()["detail"]  # only the host named
