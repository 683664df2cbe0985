"""`grader users passwd`, and the demo accounts' dashboard passwords printed by `grader up`."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select

from grader.cli import main
from grader.embedded.banner import service_banner
from grader.embedded.demo import ensure_demo_accounts
from grader.users.models import User
from grader.users.passwords import LocalAccounts, password_matches


def test_passwd_sets_a_password_that_signs_in(people, sessions, web_pg_url, monkeypatch):
    from grader.settings import get_settings

    monkeypatch.setenv("GRADER_DATABASE_URL", web_pg_url)
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(main, ["users", "passwd", "gina"], input="a new long secret\na new long secret\n")
        assert r.exit_code == 0, r.output
        assert "a new long secret" not in r.output
        with sessions() as session:
            assert LocalAccounts().authenticate(session=session, username="gina", password="a new long secret")
        r = CliRunner().invoke(main, ["users", "passwd", "gina", "--password-stdin"], input="short\n")
        assert r.exit_code == 2 and "at least 10 characters" in r.output
        r = CliRunner().invoke(main, ["users", "passwd", "nobody", "--password-stdin"], input="long enough pw\n")
        assert r.exit_code == 2 and "no user 'nobody'" in r.output
        r = CliRunner().invoke(main, ["users", "passwd", "cate", "--password-stdin"], input="long enough pw\n")
        assert r.exit_code == 2 and "service accounts" in r.output
        with sessions() as session:  # the refused ones changed nothing
            gina = session.scalars(select(User).where(User.username == "gina")).one()
            assert password_matches(gina.password_hash, "a new long secret")
            assert session.scalars(select(User.password_hash).where(User.username == "cate")).one() is None
    finally:
        get_settings.cache_clear()


def test_demo_accounts_get_fresh_passwords_each_start_and_the_banner_prints_them(sessions):
    with sessions() as session:
        first = ensure_demo_accounts(session=session)
        second = ensure_demo_accounts(session=session)
        auth = LocalAccounts()
        for old, new in zip(first, second, strict=True):
            assert auth.authenticate(session=session, username=new.user.username, password=new.password)
            assert not auth.authenticate(session=session, username=old.user.username, password=old.password)
    banner = service_banner(
        url="http://127.0.0.1:8000", database="sqlite://", courseworks=["cw1"], logs=[], accounts=second, sample=None
    )
    assert "Dashboard: http://127.0.0.1:8000/" in banner
    for a in second:
        assert f"password {a.password}" in banner
