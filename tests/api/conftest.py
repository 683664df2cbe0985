"""API tests: the real app (``create_app``) over FastAPI's TestClient, against a real Postgres.

Like tests/db, each xdist worker creates its own database (``grader_api_test_<pid>``: its own name,
so it never collides with tests/db's in the same process), migrated with ``alembic upgrade head``
and dropped at the end. The app commits for real (receipts are commits), so every table is
emptied after each test. Blobs and the broker folder live under the test's tmp_path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pg_database import empty_tables, migrated_database
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from grader.db.engine import make_engine, session_factory
from grader.roster.models import Student
from grader.server import create_app
from grader.settings import Settings
from grader.users.models import Role
from grader.users.service import create_token, create_user

RUBRIC = """\
coursework: cwa
title: "CW A: a test coursework"
version: "1"
weight: 0.4
total_points: 20
deadline: 2099-01-15T12:00:00
timezone: Europe/London
late_policy: {grace_minutes: 0, per_day_fraction: 0.1, max_days: 7}
submission: {notebook: cwa.ipynb, max_mb: 1}
mode: full
resources: {queue: cpu}
parts:
  - {id: p1, title: "Part 1", points: 20}
items:
  - {id: shown, part: p1, title: "Shown item", points: 5, auto: {tests: ["test_a.py::test_shown"]}, visibility: visible}
  - {id: later, part: p1, title: "Later item", points: 5, auto: {tests: ["test_a.py::test_later"]}, visibility: after_release}
  - {id: secret, part: p1, title: "Secret item", points: 5, auto: {tests: ["test_a.py::test_secret"]}, visibility: hidden}
  - {id: essay, part: p1, title: "Essay", points: 5, manual: true, visibility: visible}
"""


@pytest.fixture(scope="session")
def api_pg_url() -> Iterator[str]:
    with migrated_database("grader_api_test", "the API tests") as url:
        yield url


@pytest.fixture(scope="session")
def api_engine(api_pg_url: str) -> Iterator[Engine]:
    engine = make_engine(api_pg_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def rubrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rubrics")
    (root / "cwa" / "hidden").mkdir(parents=True)
    (root / "cwa" / "rubric.yaml").write_text(RUBRIC)
    (root / "cwa" / "hidden" / "test_a.py").write_text("def test_shown():\n    pass\n")
    return root


@pytest.fixture
def settings(tmp_path: Path, rubrics_dir: Path, api_pg_url: str) -> Settings:
    return Settings(
        rubrics_dir=rubrics_dir,
        database_url=api_pg_url,
        blob_dir=tmp_path / "blobs",
        broker_url="filesystem://",
        broker_dir=tmp_path / "broker",
        upload_max_mb=1,
        submissions_per_hour=5,
        secret_key="api-tests-secret-key-" + "k" * 24,
    )


@pytest.fixture
def sessions(api_engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield session_factory(api_engine)
    empty_tables(api_engine)


@pytest.fixture
def client(settings: Settings, api_engine: Engine, sessions, woken) -> Iterator[TestClient]:
    app = create_app(settings, engine=api_engine, run_queue=woken)
    with TestClient(app) as c:  # runs the lifespan: courseworks synced from the rubrics
        yield c


@dataclass
class People:
    """Bearer headers per role. ``student`` is s1, ``other`` is s2; the service acts for s1."""

    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    student_ids: dict[str, int] = field(default_factory=dict)


@pytest.fixture
def people(client: TestClient, sessions: sessionmaker[Session]) -> People:
    out = People(headers={"anonymous": {}})
    with sessions() as session:
        for role, username, ext in [
            ("student", "alice", "s1"),
            ("other", "bob", "s2"),
            ("gta", "gina", None),
            ("lecturer", "lee", None),
            ("service", "cate", None),
        ]:
            user = create_user(session=session, username=username, role=Role(role if role != "other" else "student"))
            if ext:
                student = Student(
                    external_id=ext, name=username.title(), email=f"{username}@example.ac.uk", user_id=user.id
                )
                session.add(student)
                session.commit()
                out.student_ids[role] = student.id
            secret, _ = create_token(
                session=session, user=user, view="staff" if role == "service" else None
            )  # CATe, staff-level
            out.headers[role] = {"Authorization": f"Bearer {secret}"}
        out.headers["service"]["X-On-Behalf-Of"] = "s1"
        # A roster entry that never submits: exports must list them.
        session.add(Student(external_id="s3", name="Carol"))
        session.commit()
    return out
