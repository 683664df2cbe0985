"""Sign-in, sign-out, CSRF and session expiry over the real app (TestClient)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from sqlalchemy import func, inspect, select, update
from web_kit import PASSWORD, csrf_of, sign_in

from grader.users.passwords import LocalAccounts, password_matches
from grader.users.web_session_models import WebSession
from grader.users.web_sessions import COOKIE_NAME


def test_pages_redirect_to_login_and_back_after_signing_in(client, people):
    reply = client.get("/courseworks/cwa?x=1", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=/courseworks/cwa%3Fx%3D1"
    form = client.get(reply.headers["location"])
    assert 'name="next" value="/courseworks/cwa?x=1"' in form.text
    done = client.post(
        "/login",
        data={
            "username": "alice",
            "password": PASSWORD,
            "next": "/courseworks/cwa?x=1",
            "csrf_token": csrf_of(form.text),
        },
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/courseworks/cwa?x=1"
    cookie = done.headers["set-cookie"]
    assert f"{COOKIE_NAME}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Alice (student)" in client.get("/courseworks/cwa").text


def test_wrong_password_unknown_user_and_service_account_are_refused(client, people, sessions):
    for username, password in [("alice", "wrong password!"), ("nobody", PASSWORD), ("cate", PASSWORD)]:
        form = client.get("/login")
        reply = client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": csrf_of(form.text)},
            follow_redirects=False,
        )
        assert reply.status_code == 401
        assert "Wrong username or password." in reply.text
        assert COOKIE_NAME not in client.cookies
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0


def test_login_form_needs_its_csrf_cookie(client, people):
    client.get("/login")
    reply = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": "forged"}, follow_redirects=False
    )
    assert reply.status_code == 403
    assert COOKIE_NAME not in client.cookies


def test_next_never_leaves_the_site(client, people):
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        form = client.get("/login", params={"next": evil})
        assert 'name="next" value="/"' in form.text
        reply = client.post(
            "/login",
            data={"username": "alice", "password": PASSWORD, "next": evil, "csrf_token": csrf_of(form.text)},
            follow_redirects=False,
        )
        assert reply.headers["location"] == "/"
        client.cookies.clear()


def test_unsafe_requests_need_the_sessions_csrf_token(client, people, sessions):
    csrf = sign_in(client, "lee")
    for headers, data in [({}, {}), ({}, {"csrf_token": "wrong"}), ({"X-CSRF-Token": "wrong"}, {})]:
        reply = client.post("/lecturer/courseworks/cwa/release", data=data, headers=headers, follow_redirects=False)
        assert reply.status_code == 403, reply.text
        assert "did not come from this site" in reply.text
    with sessions() as session:
        from grader.courseworks.models import Coursework

        assert session.scalars(select(Coursework.released_at).where(Coursework.code == "cwa")).one() is None
    ok = client.post("/lecturer/courseworks/cwa/release", data={"csrf_token": csrf}, follow_redirects=False)
    assert ok.status_code == 303


def test_sign_out_ends_the_session_on_the_server(client, people):
    csrf = sign_in(client, "alice")
    stolen = client.cookies[COOKIE_NAME]
    reply = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/login"
    client.cookies.set(COOKIE_NAME, stolen)  # the old cookie, replayed
    assert client.get("/", follow_redirects=False).status_code == 303


def test_sessions_expire_when_idle_and_after_the_absolute_limit(client, people, sessions, web_settings):
    sign_in(client, "alice")
    assert client.get("/", follow_redirects=False).status_code == 200
    idle = dt.timedelta(minutes=web_settings.web_session_idle_minutes)
    with sessions() as session:
        session.execute(update(WebSession).values(last_seen_at=func.now() - idle - dt.timedelta(seconds=1)))
        session.commit()
    reply = client.get("/", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/login"

    sign_in(client, "alice")
    with sessions() as session:  # busy all along, but signed in long ago
        session.execute(
            update(WebSession)
            .where(WebSession.revoked_at.is_(None))
            .values(expires_at=func.now() - dt.timedelta(seconds=1), last_seen_at=func.now())
        )
        session.commit()
    assert client.get("/", follow_redirects=False).status_code == 303


def test_fetch_requests_get_401_not_a_redirect(client, people):
    reply = client.get("/", headers={"X-Requested-With": "fetch", "Accept": "application/json"}, follow_redirects=False)
    assert reply.status_code == 401
    assert reply.json() == {"detail": "sign in first."}


def test_only_a_hash_of_the_cookie_and_password_is_stored(client, people, sessions):
    sign_in(client, "alice")
    secret = client.cookies[COOKIE_NAME]
    with sessions() as session:
        rows = session.scalars(select(WebSession)).all()
        assert len(rows) == 1
        # The cookie's SHA-256 is stored, and the cookie itself in no column.
        assert rows[0].token_sha256 == hashlib.sha256(secret.encode()).hexdigest()
        assert not [a.key for a in inspect(WebSession).column_attrs if secret in str(getattr(rows[0], a.key))]
        user = LocalAccounts().authenticate(session=session, username="alice", password=PASSWORD)
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert password_matches(user.password_hash, PASSWORD) and not password_matches(None, PASSWORD)


def test_pages_carry_security_headers(client, people):
    sign_in(client, "alice")
    reply = client.get("/")
    assert "script-src 'self'" in reply.headers["content-security-policy"]
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in client.get("/api/v1/health").headers


def test_every_form_on_a_page_carries_the_sessions_token(client, people):
    for username, path in [("alice", "/courseworks/cwa"), ("lee", "/lecturer/courseworks/cwa"), ("lee", "/")]:
        csrf = sign_in(client, username)
        html = client.get(path).text
        fields = re.findall(r'name="csrf_token" value="([^"]*)"', html)
        assert fields and set(fields) == {csrf}, (path, fields)
        assert html.count("<form") == len(fields), path
