"""A small gradebook world for the backup and erasure suites (tests/backup, tests/erasure): the
``mini`` coursework, five accounts, submissions graded as a worker records them (with artifacts),
a shared upload (two students, the same bytes), a mark with a history, an extension and a release,
all through the real app over a real Postgres database and blob store."""

from __future__ import annotations

import hashlib
import io
import os
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from pg_database import SERVER_URL
from PIL import Image
from recorded_wakeups import Woken
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from grader.blobs import BlobStore
from grader.cli import main
from grader.db.engine import make_engine, session_factory
from grader.grading.report import ArtifactFile, GradeReport
from grader.roster.models import Student
from grader.rubrics.loader import load_coursework
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.runs.service import claim_run, complete_run
from grader.scoring.auto import auto_marks
from grader.scoring.outcomes import TestOutcome, TestResult
from grader.server import create_app
from grader.settings import Settings, get_settings
from grader.tables import metadata
from grader.users.models import Role
from grader.users.service import create_token, create_user

RUBRIC = """\
coursework: mini
title: Mini
weight: 0.4
total_points: 3
deadline: 2099-01-15T12:00:00
timezone: Europe/London
mode: definitions
submission: {notebook: mini.ipynb}
parts: [{id: "1", title: One, points: 3}]
items:
  - {id: add, part: "1", title: Add one, points: 2, auto: {tests: ["test_mini.py::test_add"]}, visibility: visible}
  - {id: talk, part: "1", title: Discussion, points: 1, manual: true}
"""
HIDDEN = textwrap.dedent("""\
    def test_add(student, run_seed):
        x = run_seed % 1000
        assert student.run("y = add_one(x)", inputs={"x": x}, outputs=["y"])["y"] == x + 1, "wrong sum"
    """)
TESTS = {"test_mini.py::test_add": TestResult(TestOutcome.passed, 1.0, "fine")}
SECRET = "backup-tests-secret-key-" + "k" * 24


def write_rubrics(root: Path) -> Path:
    (root / "mini" / "hidden").mkdir(parents=True)
    (root / "mini" / "rubric.yaml").write_text(RUBRIC)
    (root / "mini" / "hidden" / "test_mini.py").write_text(HIDDEN)
    return root


def notebook(body: str) -> bytes:
    """A one-cell submission defining ``add_one`` (``body`` is its indented body)."""
    cell = nbformat.v4.new_code_cell(f"def add_one(x):\n    {body}")
    return nbformat.writes(nbformat.v4.new_notebook(cells=[cell])).encode()


def png(value: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((2, 3), value, dtype=np.uint8), mode="L").save(out, format="PNG")
    return out.getvalue()


@contextmanager
def empty_database(prefix: str) -> Iterator[str]:
    """A new, empty Postgres database (no tables: what ``grader restore`` wants), dropped afterwards."""
    server = make_url(SERVER_URL)
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def settings_for(url: str, rubrics: Path, folder: Path, **extra) -> Settings:
    return Settings(
        rubrics_dir=rubrics,
        database_url=url,
        blob_dir=folder / "blobs",
        broker_url="filesystem://",
        broker_dir=folder / "broker",
        secret_key=SECRET,
        **extra,
    )


def table_contents(engine: Engine, skip: frozenset[str] = frozenset()) -> dict[str, list[tuple]]:
    """Every gradebook table's rows, in primary-key order: two gradebooks compared whole. ``skip``:
    column names left out (``last_used_at``: a token's use is not a change to the data)."""
    out = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            columns = [c for c in table.columns if c.name not in skip]
            out[table.name] = [tuple(r) for r in conn.execute(select(*columns).order_by(*order))]
    return out


@dataclass
class Service:
    settings: Settings
    engine: Engine
    client: TestClient
    woken: Woken

    def sessions(self):
        return session_factory(self.engine)()


@contextmanager
def running(settings: Settings) -> Iterator[Service]:
    engine = make_engine(settings.database_url)
    woken = Woken()
    try:
        with TestClient(create_app(settings, engine=engine, run_queue=woken)) as client:
            yield Service(settings, engine, client, woken)
    finally:
        engine.dispose()


def cli(settings: Settings, *args: str) -> Result:
    """``grader ARGS`` with ``settings`` as its environment."""
    env = {
        "GRADER_DATABASE_URL": settings.database_url,
        "GRADER_BLOB_DIR": str(settings.blob_dir),
        "GRADER_RUBRICS_DIR": str(settings.rubrics_dir),
        "GRADER_SECRET_KEY": settings.secret_key or "",
        "GRADER_RETENTION_DAYS": str(settings.retention_days),
        "GRADER_MODULE_END": settings.module_end.isoformat() if settings.module_end else "",
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            if v:
                mp.setenv(k, v)
            else:
                mp.delenv(k, raising=False)
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(main, list(args))
        finally:
            get_settings.cache_clear()


@dataclass
class World:
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    student_ids: dict[str, int] = field(default_factory=dict)
    submissions: dict[str, str] = field(default_factory=dict)  # label -> id
    receipts: dict[str, str] = field(default_factory=dict)  # submission id -> the receipt's sha256
    shared: bytes = b""  # uploaded by alice and by bob


def upload(client, headers: dict[str, str], data: bytes):
    return client.post(
        "/api/v1/courseworks/mini/submissions",
        headers=headers,
        files={"file": ("mini.ipynb", data, "application/x-ipynb+json")},
    )


def grade(sessions: sessionmaker[Session], blobs: BlobStore, settings: Settings, submission_id: str, art: int) -> int:
    """Complete the submission's queued full run as a worker records it, with one PNG artifact."""
    rubric = load_coursework("mini", settings).rubric
    data = png(art)
    key = blobs.put(io.BytesIO(data)).sha256
    artifact = ArtifactFile(
        name="grid",
        title="grid",
        media_type="image/png",
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        item_id="add",
    )
    with sessions() as session:
        run_id = session.scalars(
            select(GradingRun.id).where(
                GradingRun.submission_id == uuid.UUID(submission_id),
                GradingRun.kind == RunKind.full,
                GradingRun.status == RunStatus.queued,
            )
        ).one()
        lease = claim_run(session=session, run_id=run_id, worker_id="test-worker")
        assert lease is not None
        report = GradeReport(
            coursework="mini",
            status="graded",
            max_score=rubric.total_points,
            auto_max_score=rubric.auto_max_score,
            duration_s=1.0,
            marks=auto_marks(rubric, TESTS),
            artifacts=[artifact],
        )
        status = complete_run(session=session, lease=lease, report=report, tests=TESTS, artifact_keys={"grid": key})
        assert status is RunStatus.graded
        return run_id


def seed_world(client, sessions: sessionmaker[Session], settings: Settings) -> World:
    """alice (s1) and bob (s2) submit, both once with the same bytes; carol (s3) never does."""
    world = World()
    with sessions() as session:
        for role, username, ext in [
            ("student", "alice", "s1"),
            ("other", "bob", "s2"),
            ("gta", "gina", None),
            ("lecturer", "lee", None),
        ]:
            user = create_user(
                session=session,
                username=username,
                role=Role(role if role != "other" else "student"),
                name=username.title(),
                email=f"{username}@example.ac.uk",
            )
            if ext:
                student = Student(
                    external_id=ext,
                    name=f"{username.title()} Smith",
                    email=f"{username}@example.ac.uk",
                    user_id=user.id,
                )
                session.add(student)
                session.commit()
                world.student_ids[role] = student.id
            secret, _ = create_token(session=session, user=user)
            world.headers[role] = {"Authorization": f"Bearer {secret}"}
        session.add(Student(external_id="s3", name="Carol Jones"))
        session.commit()
    blobs = client.app.state.blobs
    world.shared = notebook("return x + 1")
    for label, who, data in [
        ("alice-shared", "student", world.shared),
        ("bob-shared", "other", world.shared),
        ("alice-own", "student", notebook("return 1 + x  # alice")),
    ]:
        r = upload(client, world.headers[who], data)
        assert r.status_code == 201, r.text
        world.submissions[label] = r.json()["id"]
        world.receipts[r.json()["id"]] = r.json()["sha256"]
    grade(sessions, blobs, settings, world.submissions["alice-own"], 7)
    grade(sessions, blobs, settings, world.submissions["bob-shared"], 9)
    lecturer = world.headers["lecturer"]
    version = None
    for score, comment in ((1.0, "clear"), (0.5, "on reflection, thin")):
        r = client.put(
            f"/api/v1/submissions/{world.submissions['alice-own']}/marks/talk",
            headers=lecturer,
            json={"score": score, "comment": comment, "expected_version": version},
        )
        assert r.status_code == 200, r.text
        version = r.json()["mark"]["version"]
    r = client.put(
        "/api/v1/courseworks/mini/extensions/s2", headers=lecturer, json={"deadline": "+2 days", "reason": "flu"}
    )
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/courseworks/mini/release", headers=lecturer, json={"note": "marks out"})
    assert r.status_code == 200, r.text
    return world
