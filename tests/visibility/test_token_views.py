"""Token views: a service account's token reads as the student would unless created with
``--view staff``; students and markers cannot choose; the migration gives existing rows theirs."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import text
from vis_kit import MIX_RUN_SCORE, grade, notebook

from grader.cli import main
from grader.db.engine import make_engine
from grader.db.migrate import upgrade
from grader.roster.models import Student
from grader.settings import get_settings
from grader.users.models import Role
from grader.users.service import create_token, create_user, get_user


def _cli(url: str, monkeypatch, *args: str):
    monkeypatch.setenv("GRADER_DATABASE_URL", url)
    monkeypatch.setenv("GRADER_SECRET_KEY", "token-view-tests-secret-key-" + "v" * 20)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(main, list(args))
    finally:
        get_settings.cache_clear()


def test_a_service_token_has_the_student_view_unless_created_with_the_staff_view(
    client, sessions, vis_pg_url, monkeypatch
):
    for user, role in (("cate", "service"), ("alice", "student"), ("lee", "lecturer")):
        assert _cli(vis_pg_url, monkeypatch, "users", "add", user, "--role", role).exit_code == 0
    relay = _cli(vis_pg_url, monkeypatch, "token", "create", "cate")
    office = _cli(vis_pg_url, monkeypatch, "token", "create", "cate", "--view", "staff", "--name", "registry")
    assert relay.exit_code == office.exit_code == 0, relay.output + office.output
    assert "view: student" in relay.stderr and "view: staff" in office.stderr
    # Only a service account chooses: a clear usage error, and no token made.
    student = _cli(vis_pg_url, monkeypatch, "token", "create", "alice", "--view", "staff")
    lecturer = _cli(vis_pg_url, monkeypatch, "token", "create", "lee", "--view", "student")
    assert student.exit_code == lecturer.exit_code == 2
    assert "a student's token can only have the student view" in student.output
    assert "the student view is for service accounts" in lecturer.output
    with sessions() as session:
        assert session.execute(text("SELECT count(*) FROM api_tokens")).scalar() == 2

    with sessions() as session:
        bob = create_user(session=session, username="bob", role=Role.student)
        session.add(Student(external_id="s2", name="Bob", user_id=bob.id))
        session.commit()
        bob_token = create_token(session=session, user=bob)[0]
        lee_token = create_token(session=session, user=get_user(session=session, username="lee"))[0]
    r = client.post(
        "/api/v1/courseworks/mix/submissions",
        headers={"Authorization": f"Bearer {bob_token}"},
        files={"file": ("mix.ipynb", notebook("print('bob')"), "application/x-ipynb+json")},
    )
    assert r.status_code == 201, r.text
    grade(sessions, client.app, "mix", r.json()["id"], artifacts=False)

    as_relay = {"Authorization": f"Bearer {relay.stdout.strip()}", "X-On-Behalf-Of": "s2"}
    as_office = {"Authorization": f"Bearer {office.stdout.strip()}", "X-On-Behalf-Of": "s2"}

    def bob_row(headers):
        rows = client.get("/api/v1/courseworks/mix/marks", headers=headers).json()["students"]
        return next(row for row in rows if row["external_id"] == "s2")

    def bob_csv(headers):
        return client.get("/api/v1/courseworks/mix/export.csv", headers=headers).text.splitlines()[-1]

    def bob_run(headers):
        return client.get(f"/api/v1/submissions/{r.json()['id']}", headers=headers).json()["runs"][0]

    # Before release: the relay reads the submission, not the scores; the staff-view token all of it.
    assert bob_row(as_relay)["submission_id"] == r.json()["id"] and bob_row(as_relay).get("total") is None
    assert bob_row(as_relay)["auto_score"] is None and bob_row(as_relay)["items"] == []
    assert bob_row(as_office)["auto_score"] == MIX_RUN_SCORE
    assert bob_csv(as_relay).endswith(",,,,") and f"{MIX_RUN_SCORE:g}" not in bob_csv(as_relay)
    assert f"{MIX_RUN_SCORE:g}" in bob_csv(as_office)
    assert bob_run(as_relay)["score"] is None and bob_run(as_office)["score"] == MIX_RUN_SCORE
    hooks = {
        name: client.post("/api/v1/webhooks", headers=h, json={"url": f"http://127.0.0.1:9/{name}"}).json()
        for name, h in (("relay", as_relay), ("office", as_office))
    }
    assert hooks["relay"]["view"] == "student" and hooks["office"]["view"] == "staff"
    assert [w["id"] for w in client.get("/api/v1/webhooks", headers=as_relay).json()] == [hooks["relay"]["id"]]
    assert client.delete(f"/api/v1/webhooks/{hooks['office']['id']}", headers=as_relay).status_code == 404

    # After release the relay reads what the student reads: the total too.
    assert (
        client.post("/api/v1/courseworks/mix/release", headers={"Authorization": f"Bearer {lee_token}"}).status_code
        == 200
    )
    relayed = bob_row(as_relay)
    assert relayed["auto_score"] == MIX_RUN_SCORE and relayed["total"] == bob_row(as_office)["total"]
    assert bob_csv(as_relay) == bob_csv(as_office) and bob_run(as_relay)["score"] == MIX_RUN_SCORE


def test_the_migration_gives_existing_tokens_and_endpoints_their_roles_view(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    upgrade(url, "0006")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for n, role in enumerate(("student", "gta", "lecturer", "service"), start=1):
                conn.execute(
                    text(
                        "INSERT INTO users (id, username, name, role, active, created_at) "
                        "VALUES (:n, :role, :role, :role, 1, '2026-01-01 00:00:00')"
                    ),
                    {"n": n, "role": role},
                )
                conn.execute(
                    text(
                        "INSERT INTO api_tokens (user_id, name, token_sha256, scopes, created_at) "
                        "VALUES (:n, 'old', :sha, '[\"*\"]', '2026-01-01 00:00:00')"
                    ),
                    {"n": n, "sha": f"{n:064d}"},
                )
                conn.execute(
                    text(
                        "INSERT INTO webhook_endpoints (url, secret, description, events, active, "
                        "created_by_id, created_at) VALUES ('https://x.example/h', :s, '', "
                        "'[\"submission.graded\"]', 1, :n, '2026-01-01 00:00:00')"
                    ),
                    {"n": n, "s": "k" * 32},
                )
        upgrade(url, secret_key="token-view-tests-secret-key-" + "v" * 20)  # the sealing migration needs one
        with engine.connect() as conn:
            tokens = dict(
                conn.execute(text("SELECT u.role, t.view FROM api_tokens t JOIN users u ON u.id = t.user_id")).all()
            )
            hooks = dict(
                conn.execute(
                    text("SELECT u.role, w.view FROM webhook_endpoints w JOIN users u ON u.id = w.created_by_id")
                ).all()
            )
    finally:
        engine.dispose()
    expected = {"student": "student", "gta": "staff", "lecturer": "staff", "service": "student"}
    assert tokens == expected and hooks == expected
