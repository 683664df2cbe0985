"""Password guessing on /login: failed sign-ins throttled per account and per client address
(429 with Retry-After, across API replicas, under parallel guesses), and a bound on how many
argon2 checks run at once (503 with Retry-After past a short wait). Real requests to the real
app: the TestClient, and uvicorn for the parallel ones."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient
from live_kit import serving
from sqlalchemy import func, select
from web_kit import PASSWORD, csrf_of

from grader.server import create_app
from grader.users.throttle_models import SignInFailure
from grader.users.web_sessions import COOKIE_NAME

LIMITS = {"login_failures_per_account": 3, "login_failures_per_address": 6, "login_window_minutes": 15}


@pytest.fixture
def make_client(web_settings, web_engine, sessions, woken):
    """A client of a fresh app (an API replica) with small sign-in limits, from ``address``."""
    opened = []

    def make(address: str = "10.0.0.1", **overrides) -> TestClient:
        app = create_app(web_settings.model_copy(update={**LIMITS, **overrides}), engine=web_engine)
        client = TestClient(app, base_url="http://127.0.0.1", client=(address, 40000))
        opened.append(client.__enter__())
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def attempt(client: TestClient, username: str, password: str) -> httpx.Response:
    client.cookies.clear()
    form = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )


def failures(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count(SignInFailure.id)))


def test_an_account_is_throttled_after_its_failures_even_with_the_right_password(make_client, people, sessions):
    client = make_client()
    for _ in range(3):
        assert attempt(client, "alice", "wrong password!").status_code == 401
    refused = attempt(client, "alice", PASSWORD)
    assert refused.status_code == 429, refused.text
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-ins for this account" in refused.text
    assert COOKIE_NAME not in client.cookies
    assert failures(sessions) == 3  # the refused attempt was not counted: it never reached argon2
    # Other accounts are not held back, even from the same address.
    assert attempt(client, "bob", PASSWORD).status_code == 303


def test_the_throttle_holds_across_replicas_and_addresses(make_client, people):
    first, second = make_client("10.0.0.1"), make_client("10.0.0.2")
    for replica in (first, second, first):
        assert attempt(replica, "alice", "wrong password!").status_code == 401
    assert attempt(second, "alice", PASSWORD).status_code == 429


def test_an_address_is_throttled_across_usernames(make_client, people):
    client, elsewhere = make_client("10.0.0.1"), make_client("10.0.0.9")
    for n in range(6):
        assert attempt(client, f"guess{n}", "wrong password!").status_code == 401
    refused = attempt(client, "bob", PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-ins for your address" in refused.text
    assert attempt(elsewhere, "bob", PASSWORD).status_code == 303


def test_signing_in_clears_the_accounts_failures(make_client, people):
    client = make_client()
    for _ in range(2):
        assert attempt(client, "alice", "wrong password!").status_code == 401
    assert attempt(client, "alice", PASSWORD).status_code == 303
    for _ in range(3):
        assert attempt(client, "alice", "wrong password!").status_code == 401
    assert attempt(client, "alice", "wrong password!").status_code == 429


def test_parallel_guesses_get_no_more_than_the_allowance(web_settings, web_engine, people, sessions, woken):
    app = create_app(web_settings.model_copy(update=LIMITS), engine=web_engine)
    with serving(app) as url:

        def guess(n: int) -> int:
            with httpx.Client(base_url=url) as c:
                form = c.get("/login")
                return c.post(
                    "/login",
                    data={"username": "alice", "password": f"wrong guess {n}", "csrf_token": csrf_of(form.text)},
                ).status_code

        with ThreadPoolExecutor(max_workers=10) as pool:
            codes = list(pool.map(guess, range(10)))
    assert codes.count(401) <= 3, codes  # at most the allowance reached argon2
    assert codes.count(429) >= 7, codes
    assert failures(sessions) <= 3


def test_password_checks_beyond_the_bound_wait_then_get_503(make_client, people, sessions):
    client = make_client(login_hashes_at_once=1, login_hash_wait_s=0.5)
    gate = client.app.state.password_checks
    with gate.slot():  # another sign-in holds the only slot
        busy = attempt(client, "alice", PASSWORD)
    assert busy.status_code == 503, busy.text
    assert busy.headers["Retry-After"]
    assert "try again in a few seconds" in busy.text
    assert failures(sessions) == 0  # not a guess: the password was never checked
    assert attempt(client, "alice", PASSWORD).status_code == 303  # the slot is free again


def test_password_checks_queue_for_the_bound(web_settings, web_engine, people, woken, monkeypatch):
    """With one slot and a long enough wait, parallel sign-ins take turns: every one succeeds,
    and no two argon2 verifications ever ran at once."""
    from grader.users import passwords

    app = create_app(
        web_settings.model_copy(update={"login_hashes_at_once": 1, "login_hash_wait_s": 30}), engine=web_engine
    )
    running, most = 0, 0
    lock = threading.Lock()
    real = passwords._hasher

    class CountedHasher:
        """argon2's hasher, counting the verifications in progress."""

        def verify(self, stored, password):
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            try:
                return real.verify(stored, password)
            finally:
                with lock:
                    running -= 1

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(passwords, "_hasher", CountedHasher())
    with serving(app) as url:

        def sign_in(username: str) -> int:
            with httpx.Client(base_url=url) as c:
                form = c.get("/login")
                return c.post(
                    "/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(form.text)}
                ).status_code

        with ThreadPoolExecutor(max_workers=4) as pool:
            codes = list(pool.map(sign_in, ["alice", "bob", "gina", "lee"]))
    assert codes == [303] * 4, codes
    assert most == 1
