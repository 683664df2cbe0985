"""Visibility tests: the real app (API and dashboard) against a real Postgres, over FastAPI's
TestClient, with two courseworks built to hold canaries (``vis_kit``).

Each xdist worker has its own database (``grader_vis_test_<pid>``), migrated with Alembic and
emptied after each test; blobs and the broker folder live under the test's tmp_path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pg_database import empty_tables, migrated_database
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from vis_kit import RUBRICS

from grader.db.engine import make_engine, session_factory
from grader.server import create_app
from grader.settings import Settings


@pytest.fixture(scope="session")
def vis_pg_url() -> Iterator[str]:
    with migrated_database("grader_vis_test", "the visibility tests") as url:
        yield url


@pytest.fixture(scope="session")
def vis_engine(vis_pg_url: str) -> Iterator[Engine]:
    engine = make_engine(vis_pg_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def rubrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vis-rubrics")
    for code, body in RUBRICS.items():
        (root / code / "hidden").mkdir(parents=True)
        (root / code / "rubric.yaml").write_text(body)
        (root / code / "hidden" / f"test_{code}.py").write_text("def test_placeholder():\n    pass\n")
    return root


TEST_SECRET_KEY = "visibility-tests-secret-key-" + "q" * 20


@pytest.fixture
def settings(tmp_path: Path, rubrics_dir: Path, vis_pg_url: str) -> Settings:
    return Settings(
        rubrics_dir=rubrics_dir,
        database_url=vis_pg_url,
        blob_dir=tmp_path / "blobs",
        broker_url="filesystem://",
        broker_dir=tmp_path / "broker",
        upload_max_mb=1,
        submissions_per_hour=50,
        public_url="http://grader.test",
        webhook_allowed_hosts=["127.0.0.1"],  # endpoints registered on loopback (never sent to)
        secret_key=TEST_SECRET_KEY,
    )  # seals the endpoints' secrets


@pytest.fixture
def sessions(vis_engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield session_factory(vis_engine)
    empty_tables(vis_engine)


@pytest.fixture
def client(settings: Settings, vis_engine: Engine, sessions, woken) -> Iterator[TestClient]:
    app = create_app(settings, engine=vis_engine, run_queue=woken)
    with TestClient(app, base_url="http://127.0.0.1") as c:  # the lifespan syncs the courseworks
        yield c
