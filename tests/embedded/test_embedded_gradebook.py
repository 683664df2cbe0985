"""The gradebook side of `grader up` and `grader export`, on a fresh SQLite gradebook (no processes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from grader.cli import main
from grader.db.engine import make_engine, session_factory
from grader.db.migrate import upgrade
from grader.embedded.demo import DEMO_USERS, TOKEN_NAME, DemoConflict, ensure_demo_accounts
from grader.embedded.up import prepare_gradebook
from grader.marking.export import EXPORT_COLUMNS, marks_csv
from grader.roster.models import Student
from grader.settings import REPO_ROOT, Settings, get_settings
from grader.users.models import ApiToken, Role
from grader.users.service import authenticate, create_user


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    url = f"sqlite:///{tmp_path / 'grader.db'}"
    monkeypatch.setenv("GRADER_DATABASE_URL", url)
    monkeypatch.setenv("GRADER_RUBRICS_DIR", str(REPO_ROOT / "rubrics"))
    get_settings.cache_clear()
    yield Settings(
        database_url=url,
        rubrics_dir=REPO_ROOT / "rubrics",
        blob_dir=tmp_path / "blobs",
        broker_dir=tmp_path / "broker",
        log_dir=tmp_path / "log",
    )
    get_settings.cache_clear()


@pytest.fixture
def sessions(settings: Settings):
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    yield session_factory(engine)
    engine.dispose()


def test_demo_accounts_are_made_once_and_only_the_latest_tokens_work(sessions):
    with sessions() as s:
        first = ensure_demo_accounts(session=s)
        second = ensure_demo_accounts(session=s)
        assert [a.user.username for a in second] == [u.username for u in DEMO_USERS]
        assert all(authenticate(session=s, secret=a.token) is None for a in first)
        owners = [authenticate(session=s, secret=a.token) for a in second]
        assert [o.user.role for o in owners] == [Role.lecturer, Role.gta, Role.student, Role.student]
        assert s.scalars(select(Student.external_id).order_by(Student.id)).all() == ["demo-0001", "demo-0002"]
        live = s.scalars(select(ApiToken).where(ApiToken.name == TOKEN_NAME, ApiToken.revoked_at.is_(None))).all()
        assert len(live) == len(DEMO_USERS)


def test_a_demo_name_taken_by_another_role_is_refused(sessions):
    with sessions() as s:
        create_user(session=s, username="gta", role=Role.student)
        with pytest.raises(DemoConflict, match="'gta' exists as a student"):
            ensure_demo_accounts(session=s)


def test_export_of_an_empty_roster_is_the_header_row(settings, sessions):
    assert marks_csv([]) == ",".join(EXPORT_COLUMNS) + "\r\n"
    prepare_gradebook(settings, demo=False)  # migrated, courseworks loaded, nobody enrolled
    r = CliRunner().invoke(main, ["export", "cw1"])
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes == (",".join(EXPORT_COLUMNS) + "\r\n").encode()


def test_export_of_a_coursework_the_gradebook_lacks_is_a_usage_error(settings, sessions):
    r = CliRunner().invoke(main, ["export", "cw1"])  # migrated, but no service start has loaded cw1
    assert r.exit_code == 2 and "not in the gradebook yet" in r.output
    r = CliRunner().invoke(main, ["export", "cw9"])
    assert r.exit_code == 2 and "no coursework 'cw9'" in r.output and "Traceback" not in r.output


def test_export_from_an_unmigrated_gradebook_is_a_clear_error(settings):
    r = CliRunner().invoke(main, ["export", "cw1"])
    assert r.exit_code == 1 and "grader db upgrade" in r.output and "Traceback" not in r.output


def test_demo_students_get_an_extension_past_a_passed_deadline(settings):
    from grader.courseworks.models import Coursework
    from grader.courseworks.service import effective_deadline
    from grader.db.clock import db_now

    prepare_gradebook(settings, demo=True)
    with session_factory(make_engine(settings.database_url))() as s:
        now = db_now(s)
        cw1 = s.scalars(select(Coursework).where(Coursework.code == "cw1")).one()
        assert cw1.deadline < now  # the sample's deadline has passed
        for external_id in ("demo-0001", "demo-0002"):
            student = s.scalars(select(Student).where(Student.external_id == external_id)).one()
            assert effective_deadline(session=s, student_id=student.id, coursework_id=cw1.id) > now
