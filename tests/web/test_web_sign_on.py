"""Single sign-on against a real OpenID provider (the certified ``oidc-provider`` under Node,
tests/oidc_kit.py): the whole authorisation code flow, through the provider's own login and
consent forms, over the real app and Postgres.

Made by the real provider: the happy paths, an unknown person, an unverified email, a replayed
code, a wrong state, an email address given to a new person (another subject), and an expired ID token (a provider whose clock is two hours behind). Two
attacks no honest provider makes are made between the grader and the real provider, at the token
endpoint's answer (``oidc_kit.TokenSwap``): an ID token forged with another key (the real token's
claims, re-signed), and a real ID token the provider issued to another application (wrong audience).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from live_kit import free_port, serving
from oidc_kit import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET,
    TokenSwap,
    authorize_as,
    running_provider,
    through_provider,
)
from oidc_kit import PASSWORD as PROVIDER_PASSWORD
from pydantic import SecretStr, ValidationError
from sqlalchemy import func, select, update
from web_kit import PASSWORD

from grader.audit.models import AuditEvent
from grader.roster.models import Student
from grader.server import create_app
from grader.settings import Settings, SignOn
from grader.sign_on.accounts import NotAdmitted, account_for
from grader.sign_on.oidc import OidcClient
from grader.users.models import Role, User
from grader.users.web_session_models import WebSession
from grader.users.web_sessions import COOKIE_NAME
from grader.web import csrf
from grader.web.routes.sso import STATE_COOKIE

BASE = "http://127.0.0.1"  # the TestClient's address: the redirect URL registered at the provider
REDIRECT = f"{BASE}/login/sso/callback"


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with running_provider(REDIRECT) as url:
        yield url


@pytest.fixture(scope="module")
def slow_clock_issuer() -> Iterator[str]:
    with running_provider(REDIRECT, clock_skew_s=-7200) as url:
        yield url


@pytest.fixture
def roster(people, sessions):
    """The web fixtures' people, with the emails the provider's people have (staff: lee only)."""
    with sessions() as session:
        session.execute(update(User).where(User.username == "lee").values(email="lee@example.ac.uk"))
        session.execute(update(Student).where(Student.external_id == "s3").values(email="carol@example.ac.uk"))
        session.commit()
    return people


@pytest.fixture
def sso_app(web_settings: Settings, web_engine, woken) -> Iterator[Callable[..., TestClient]]:
    """``make(issuer, transport=None, **settings)``: the app with sign-on configured, over a TestClient."""
    opened: list[TestClient] = []

    def make(
        issuer: str, *, transport=None, client_id: str = CLIENT_ID, address: str = "testclient", **changes
    ) -> TestClient:
        oidc = SignOn(
            issuer=issuer,
            client_id=client_id,
            client_secret=SecretStr(CLIENT_SECRET),
            provider_name="Test University",
            **{k: changes.pop(k) for k in ("claim", "match_on", "scopes") if k in changes},
        )
        settings = web_settings.model_copy(update={"oidc": oidc, "public_url": BASE, **changes})
        app = create_app(settings, engine=web_engine, run_queue=woken)
        if transport is not None:
            app.state.sign_on = OidcClient(oidc, redirect_url=REDIRECT, transport=transport)
        client = TestClient(app, base_url=BASE, client=(address, 50000)).__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def start(app: TestClient, next_url: str = "/") -> str:
    reply = app.get("/login/sso", params={"next": next_url}, follow_redirects=False)
    assert reply.status_code == 303, reply.text
    return reply.headers["location"]


def come_back(app: TestClient, callback_url: str):
    parts = urlsplit(callback_url)
    return app.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def sign_in(app: TestClient, username: str, next_url: str = "/"):
    return come_back(app, through_provider(start(app, next_url), username, REDIRECT))


def refused(sessions) -> list[dict]:
    with sessions() as session:
        return [e.details for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "sign_on.refused"))]


def test_a_student_signs_in_through_the_provider(sso_app, issuer, roster, sessions):
    app = sso_app(issuer)
    authorize = start(app, "/courseworks/cwa")
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    assert query["redirect_uri"] == [REDIRECT] and query["client_id"] == [CLIENT_ID]
    done = come_back(app, through_provider(authorize, "alice", REDIRECT))  # Alice@Example.ac.uk, any case
    assert done.status_code == 303 and done.headers["location"] == "/courseworks/cwa"
    assert "Alice (student)" in app.get("/courseworks/cwa").text
    with sessions() as session:
        assert session.scalars(select(WebSession.provider)).all() == ["oidc"]


def test_a_lecturer_signs_in_and_is_a_lecturer_by_the_staff_list(sso_app, issuer, roster):
    app = sso_app(issuer)
    assert sign_in(app, "lee").status_code == 303
    assert app.get("/lecturer/courseworks/cwa").status_code == 200


def test_a_rostered_student_without_an_account_gets_one_at_first_sign_in(sso_app, issuer, roster, sessions):
    app = sso_app(issuer)
    assert sign_in(app, "carol").status_code == 303
    with sessions() as session:
        user = session.scalars(select(User).where(User.username == "s3")).one()
        assert (user.role, user.password_hash) == (Role.student, None)
        assert session.scalars(select(Student.user_id).where(Student.external_id == "s3")).one() == user.id
    app.cookies.clear()
    assert sign_in(app, "carol").status_code == 303  # the second time: the same account
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(User).where(User.username == "s3")) == 1


def test_a_student_number_claim_maps_to_the_roster(sso_app, issuer, roster):
    app = sso_app(issuer, claim="student_number", match_on="external_id", scopes="openid student_number")
    assert sign_in(app, "alice").status_code == 303
    assert "Alice (student)" in app.get("/").text


def test_an_unknown_person_is_refused_with_a_page_not_given_an_account(sso_app, issuer, roster, sessions):
    app = sso_app(issuer)
    with sessions() as session:
        users_before = session.scalar(select(func.count()).select_from(User))
    reply = sign_in(app, "mallory")
    assert reply.status_code == 403
    assert "roster or staff list" in reply.text and "Not signed in" in reply.text
    assert COOKIE_NAME not in app.cookies
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == users_before
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0
    assert refused(sessions)[0]["reason"].startswith("You are not on this module's roster")


def test_an_email_the_provider_has_not_verified_names_nobody(sso_app, issuer, roster):
    reply = sign_in(sso_app(issuer), "eve")  # eve's unverified email is alice's
    assert reply.status_code == 403 and "not verified" in reply.text


def test_a_wrong_or_missing_state_is_refused_and_spends_nothing(sso_app, issuer, roster, sessions):
    app = sso_app(issuer)
    back = through_provider(start(app), "alice", REDIRECT)
    forged = back.replace("state=", "state=x")
    reply = come_back(app, forged)
    assert reply.status_code == 400 and "not started in this browser" in reply.text
    other_browser = sso_app(issuer)  # no state cookie: a callback link sent to someone else
    assert come_back(other_browser, back).status_code == 400
    assert COOKIE_NAME not in app.cookies and COOKIE_NAME not in other_browser.cookies
    assert come_back(app, back).status_code == 303  # the real one still works, once


def test_a_replayed_code_is_refused(sso_app, issuer, roster, sessions):
    app = sso_app(issuer)
    back = through_provider(start(app), "alice", REDIRECT)
    assert come_back(app, back).status_code == 303
    app.cookies.clear()
    state = parse_qs(urlsplit(back).query)["state"][0]
    app.cookies.set(STATE_COOKIE, state, domain="127.0.0.1", path="/login/sso")  # the browser's cookie too
    again = come_back(app, back)  # the same callback again: its state is spent
    assert again.status_code == 400 and "used already" in again.text
    # The code with a fresh state of this browser: the provider refuses the code the second time.
    fresh_state = parse_qs(urlsplit(start(app)).query)["state"][0]
    code = parse_qs(urlsplit(back).query)["code"][0]
    reply = app.get("/login/sso/callback", params={"code": code, "state": fresh_state}, follow_redirects=False)
    assert reply.status_code == 401 and "did not accept this sign-in" in reply.text
    assert COOKIE_NAME not in app.cookies


def test_an_expired_id_token_is_refused(sso_app, slow_clock_issuer, roster):
    reply = sign_in(sso_app(slow_clock_issuer), "alice")
    assert reply.status_code == 401 and "it has expired" in reply.text


def _claims(id_token: str) -> tuple[dict, dict]:
    header, payload, _ = id_token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(header))), json.loads(base64.urlsafe_b64decode(pad(payload)))


def test_an_id_token_signed_by_another_key_is_refused(sso_app, issuer, roster):
    def forge(real: str) -> str:
        header, claims = _claims(real)  # the real claims and key id: only the signature is ours
        key = RSAKey.generate_key(2048, parameters={"kid": header["kid"]})
        return jwt.encode({"alg": "RS256", "kid": header["kid"]}, claims, key)

    reply = sign_in(sso_app(issuer, transport=TokenSwap(forge)), "alice")
    assert reply.status_code == 401 and "not signed by Test University" in reply.text


def test_an_id_token_issued_to_another_application_is_refused(sso_app, issuer, roster):
    other: dict = {}
    app = sso_app(issuer, transport=TokenSwap(lambda real: other["id_token"]))
    authorize = start(app)
    other.update(authorize_as(issuer, OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, authorize, "alice", REDIRECT))
    assert _claims(other["id_token"])[1]["aud"] == OTHER_CLIENT_ID  # genuinely signed by the provider
    reply = come_back(app, through_provider(authorize, "alice", REDIRECT))
    assert reply.status_code == 401 and "issued to another application" in reply.text


def test_local_accounts_turned_off_leave_only_sign_on(sso_app, issuer, roster, sessions):
    app = sso_app(issuer, local_accounts=False)
    page = app.get("/login")
    assert "Sign in with Test University" in page.text and 'name="password"' not in page.text
    reply = app.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": app.cookies[csrf.LOGIN_COOKIE]},
        follow_redirects=False,
    )
    assert reply.status_code == 403 and "Local accounts are turned off" in reply.text
    assert COOKIE_NAME not in app.cookies
    assert sign_in(app, "alice").status_code == 303


def test_the_login_page_offers_sign_on_only_when_configured(client, sso_app, issuer):
    assert "Sign in with" not in client.get("/login").text
    assert client.get("/login/sso", follow_redirects=False).status_code == 404
    page = sso_app(issuer).get("/login", params={"next": "/courseworks/cwa"})
    assert 'href="/login/sso?next=/courseworks/cwa"' in page.text and 'name="password"' in page.text


def test_who_is_who_comes_from_the_roster_and_staff_list_alone(roster, sessions):
    """The mapping, without the provider: ambiguity, switched-off accounts, service accounts, and a
    student number already used as another account's username all refuse."""

    def who(identity: str, match_on: str = "email") -> str:
        with sessions() as session:
            try:
                return account_for(session=session, identity=identity, match_on=match_on, provider="oidc").username
            except NotAdmitted as exc:
                return str(exc)

    assert who("lee@example.ac.uk") == "lee"
    assert who("lee", "external_id") == "lee" and who("s1", "external_id") == "alice"
    assert who("alice", "external_id").startswith("You are not on")  # a student's username is no identity
    with sessions() as session:
        session.execute(update(User).where(User.username == "cate").values(email="cate@example.ac.uk"))
        session.execute(update(Student).where(Student.external_id == "s2").values(email="alice@example.ac.uk"))
        session.execute(update(User).where(User.username == "lee").values(active=False))
        session.add(User(username="s3", name="Not Carol", role=Role.gta))
        session.commit()
    assert who("cate@example.ac.uk").startswith("You are not on")  # a service account is not staff
    assert who("alice@example.ac.uk").startswith("More than one person")
    assert who("lee@example.ac.uk").startswith("Your account here is switched off")
    assert who("carol@example.ac.uk").startswith("An account named after your student number")
    with sessions() as session:
        assert session.scalars(select(Student.user_id).where(Student.external_id == "s3")).one() is None


def test_settings_refuse_a_service_nobody_can_sign_in_to():
    with pytest.raises(ValidationError, match="nobody could sign in"):
        Settings(local_accounts=False)
    with pytest.raises(ValidationError, match="CLIENT_ID"):
        Settings(oidc={"issuer": "https://login.example/"})


def test_a_person_signs_in_in_a_real_browser(browser, web_settings, web_engine, woken, roster, screenshots):
    """Chromium, the grader served by uvicorn, the provider's own forms: the button, the login, the
    consent, and back where the person was going (the cookies and the CSP of real pages)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running_provider(f"{base}/login/sso/callback") as provider_url:
        oidc = SignOn(
            issuer=provider_url,
            client_id=CLIENT_ID,
            client_secret=SecretStr(CLIENT_SECRET),
            provider_name="Test University",
        )
        settings = web_settings.model_copy(update={"oidc": oidc, "public_url": base})
        with serving(create_app(settings, engine=web_engine, run_queue=woken), port):
            context = browser.new_context(base_url=base)
            context.set_default_timeout(15_000)
            page = context.new_page()
            page.goto("/courseworks/cwa")
            page.screenshot(path=str(screenshots / "sign-on-login-page.png"))
            page.click("text=Sign in with Test University")
            page.wait_for_url(f"{provider_url}/**")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", PROVIDER_PASSWORD)
            page.click("button")
            page.wait_for_selector("text=Continue")  # the provider's consent page
            page.click("button")
            page.wait_for_selector("[data-testid=whoami]")
            assert page.url == f"{base}/courseworks/cwa"
            assert "Alice (student)" in page.inner_text("[data-testid=whoami]")
            page.screenshot(path=str(screenshots / "sign-on-student.png"))
            context.close()


# -- the account bound to the provider's subject ------------------------------------------------------


def _bound(sessions, username: str) -> tuple[str | None, str | None]:
    with sessions() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        return user.sso_issuer, user.sso_subject


def test_an_email_given_to_a_new_person_does_not_open_the_old_holders_account(
    sso_app, issuer, roster, sessions, web_pg_url, monkeypatch
):
    """alice signs in and her account is bound to her subject; alex, to whom the university gave her
    email address later, is refused (a page, audited) until a lecturer unlinks the account."""
    app = sso_app(issuer)
    assert sign_in(app, "alice").status_code == 303
    assert _bound(sessions, "alice") == (issuer, "alice-sub")
    with sessions() as session:
        alice_id = session.scalars(select(User.id).where(User.username == "alice")).one()
        bind = session.scalars(select(AuditEvent).where(AuditEvent.action == "sign_on.bind")).one()
        assert (bind.actor_id, bind.details["subject"]) == (alice_id, "alice-sub")

    app.cookies.clear()
    reply = sign_in(app, "alex")
    assert reply.status_code == 403 and "belongs to another person at the provider" in reply.text
    assert COOKIE_NAME not in app.cookies
    with sessions() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "sign_on.refused")).one()
        assert (event.subject_type, event.subject_id) == ("user", str(alice_id))  # erased with alice's data
        assert event.details["identity"] == "alice@example.ac.uk"
    assert _bound(sessions, "alice") == (issuer, "alice-sub")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 1  # alice's own, no other
    assert sign_in(app, "alice").status_code == 303  # alice herself still gets in

    # A lecturer unlinks the account on purpose; the next sign-in binds it to alex.
    from click.testing import CliRunner

    from grader.cli import main
    from grader.settings import get_settings

    monkeypatch.setenv("GRADER_DATABASE_URL", web_pg_url)
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(main, ["users", "unlink-sign-on", "alice", "--reason", "address reassigned"])
        assert r.exit_code == 0, r.output
        assert "alice unlinked from 'alice-sub'" in r.output
        again = CliRunner().invoke(main, ["users", "unlink-sign-on", "alice", "--reason", "again"])
        assert again.exit_code == 2 and "not linked" in again.output
        nobody = CliRunner().invoke(main, ["users", "unlink-sign-on", "nobody", "--reason", "x"])
        assert nobody.exit_code == 2 and "no user 'nobody'" in nobody.output
        blank = CliRunner().invoke(main, ["users", "unlink-sign-on", "lee", "--reason", " "])
        assert blank.exit_code == 2 and "--reason" in blank.output
        neither = CliRunner().invoke(main, ["users", "unlink-sign-on", "--reason", "x"])
        assert neither.exit_code == 2 and "--all" in neither.output
    finally:
        get_settings.cache_clear()
    with sessions() as session:
        unbind = session.scalars(select(AuditEvent).where(AuditEvent.action == "sign_on.unbind")).one()
        assert unbind.details["reason"] == "address reassigned" and unbind.details["subject"] == "alice-sub"
    app.cookies.clear()
    assert sign_in(app, "alex").status_code == 303
    assert _bound(sessions, "alice") == (issuer, "alex-sub")
    app.cookies.clear()
    assert sign_in(app, "alice").status_code == 403  # now the other way round
    assert sign_in(app, "lee").status_code == 303
    monkeypatch.setenv("GRADER_DATABASE_URL", web_pg_url)
    get_settings.cache_clear()
    try:  # the provider's app replaced: every sub changes, so every account is unlinked
        r = CliRunner().invoke(main, ["users", "unlink-sign-on", "--all", "--reason", "new app registration"])
        assert r.exit_code == 0 and "2 accounts unlinked" in r.output, r.output
    finally:
        get_settings.cache_clear()
    assert _bound(sessions, "alice") == _bound(sessions, "lee") == (None, None)


def test_a_student_number_claim_is_bound_to_the_subject_too(sso_app, issuer, roster, sessions):
    app = sso_app(issuer, claim="student_number", match_on="external_id", scopes="openid student_number")
    assert sign_in(app, "alex").status_code == 303  # s1 first reached by alex: bound to alex
    app.cookies.clear()
    reply = sign_in(app, "alice")
    assert reply.status_code == 403 and "belongs to another person" in reply.text


def test_one_person_at_the_provider_opens_one_account(roster, sessions):
    """A subject already bound to one account opens no other (the provider's email for the person
    changed to another account's); a token without a usable sub names nobody."""
    from grader.sign_on.accounts import bind_subject, subject_from_claims

    with sessions() as session:
        alice, bob = (session.scalars(select(User).where(User.username == n)).one() for n in ("alice", "bob"))
        bind_subject(session=session, user=alice, issuer="https://idp", subject="p1", provider="oidc")
        with pytest.raises(NotAdmitted, match="linked to another account"):
            bind_subject(session=session, user=bob, issuer="https://idp", subject="p1", provider="oidc")
        bind_subject(session=session, user=bob, issuer="https://other-idp", subject="p1", provider="oidc")
        session.refresh(bob)
        assert (bob.sso_issuer, bob.sso_subject) == ("https://other-idp", "p1")
    for claims in ({}, {"sub": ""}, {"sub": 5}, {"sub": "x" * 256}):
        with pytest.raises(NotAdmitted, match="'sub'"):
            subject_from_claims(claims)


# -- GET /login/sso throttled per address, and the sign-ins under way capped ---------------------------


def test_sign_ins_started_are_throttled_per_address_and_capped_in_all(sso_app, issuer, roster, sessions):
    from grader.sign_on.models import SignOnRequest

    def stored() -> int:
        with sessions() as session:
            return session.scalar(select(func.count()).select_from(SignOnRequest))

    limits = {"sso_starts_per_address": 3, "sso_pending_max": 5}
    lab, home = sso_app(issuer, address="10.0.0.1", **limits), sso_app(issuer, address="10.0.0.2", **limits)
    for _ in range(3):
        start(lab)
    reply = lab.get("/login/sso", follow_redirects=False)
    assert reply.status_code == 429 and "Too many sign-ins started from your address" in reply.text
    assert 0 < int(reply.headers["Retry-After"]) <= 600
    assert stored() == 3  # the refused one kept nothing
    assert STATE_COOKIE in lab.cookies  # and did not end the sign-in this browser has under way
    # Another address is not held back, and a finished sign-in frees its place.
    assert come_back(home, through_provider(start(home), "alice", REDIRECT)).status_code == 303
    assert stored() == 3
    home.cookies.clear()
    for _ in range(2):
        start(home)
    assert stored() == 5
    busy = home.get("/login/sso", follow_redirects=False)
    assert busy.status_code == 503 and "too many sign-ins under way" in busy.text and busy.headers["Retry-After"]
    assert stored() == 5


def test_parallel_starts_get_no_more_than_the_allowance(issuer, web_settings, web_engine, woken, roster, sessions):
    """Ten GET /login/sso at once from one address (uvicorn, real connections): no more than three kept."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from grader.sign_on.models import SignOnRequest

    oidc = SignOn(issuer=issuer, client_id=CLIENT_ID, client_secret=SecretStr(CLIENT_SECRET))
    settings = web_settings.model_copy(update={"oidc": oidc, "public_url": BASE, "sso_starts_per_address": 3})
    with serving(create_app(settings, engine=web_engine, run_queue=woken), free_port()) as url:
        httpx.get(f"{url}/login", timeout=10)  # the app is up

        def begin(_: int) -> int:
            return httpx.get(f"{url}/login/sso", timeout=20, follow_redirects=False).status_code

        with ThreadPoolExecutor(max_workers=10) as pool:
            codes = list(pool.map(begin, range(10)))
    # Each row is counted after its commit: at most the allowance is kept (fewer when rows that are
    # refused a moment later are still counted, as with parallel password guesses).
    assert set(codes) <= {303, 429} and codes.count(303) <= 3 and codes.count(429) >= 7, codes
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SignOnRequest)) == codes.count(303)
