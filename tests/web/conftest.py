"""Dashboard tests: the real app against a real Postgres, over FastAPI's TestClient and, for the
browser tests, served by uvicorn on a free port and driven by headless Chromium (Debian's
``chromium`` through Playwright; ``scripts/ensure_browser.sh`` installs it, `make services` runs it).

Each xdist worker has its own database (``grader_web_test_<pid>``), migrated with Alembic. After
each test every table but ``courseworks`` is emptied (the live server synced those at its start)
and every coursework is unreleased again. Accounts (``people``): students alice (s1) and bob (s2),
GTA gina, lecturer lee, all with the password ``web_kit.PASSWORD``; service account cate (no
password); carol (s3) on the roster without an account. Screenshots go to
``tests/artifacts/screenshots/`` (gitignored) for a person to look at.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pg_database import empty_tables, migrated_database
from recorded_wakeups import Woken
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker
from web_kit import give_password

from grader.courseworks.models import Coursework
from grader.db.engine import make_engine, session_factory
from grader.roster.models import Student
from grader.server import create_app
from grader.settings import Settings
from grader.users.models import Role
from grader.users.service import create_token, create_user

SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"

# Shaped like the course's marking template: parts, sections coded in the titles (1.1a ...),
# auto items of each visibility, hand-marked items and a penalty.
CWA = """\
coursework: cwa
title: "CW A: Make it deep"
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
  - {id: p1, title: "Part 1: Layers", points: 10}
  - {id: p2, title: "Part 2: Discussion", points: 10}
items:
  - {id: shown, part: p1, title: "1.1a Convolution shapes", points: 4, auto: {tests: ["test_a.py::test_shown"]}, visibility: visible}
  - {id: later, part: p1, title: "1.1a Convolution values", points: 3, visibility: after_release,
     auto: {tests: ["test_a.py::test_later"], checked_in_kernel: true}}
  - {id: secret, part: p1, title: "1.1b Held-out accuracy", points: 3, auto: {tests: ["test_a.py::test_secret"]}, visibility: hidden}
  - {id: curves, part: p2, title: "2.1 Training curves discussed", points: 6, manual: true, visibility: visible}
  - {id: design, part: p2, title: "2.2 Design choices justified", points: 4, manual: true, visibility: visible}
penalties:
  - {id: nolabels, title: "Plots without axis labels", points: 1}
"""
CWB = """\
coursework: cwb
title: "CW B: Generative models"
version: "1"
weight: 0.6
total_points: 10
deadline: 2099-03-15T12:00:00
timezone: Europe/London
submission: {notebook: cwb.ipynb, max_mb: 1}
mode: full
resources: {queue: cpu}
parts:
  - {id: q1, title: "Part 1: Samples", points: 10}
items:
  - {id: samples, part: q1, title: "1.1 Generated samples", points: 10, manual: true, visibility: visible}
"""


@pytest.fixture(scope="session")
def web_pg_url() -> Iterator[str]:
    with migrated_database("grader_web_test", "the dashboard tests") as url:
        yield url


@pytest.fixture(scope="session")
def web_engine(web_pg_url: str) -> Iterator[Engine]:
    engine = make_engine(web_pg_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def web_rubrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("web-rubrics")
    for code, body in (("cwa", CWA), ("cwb", CWB)):
        (root / code / "hidden").mkdir(parents=True)
        (root / code / "rubric.yaml").write_text(body)
        (root / code / "hidden" / "test_a.py").write_text("def test_shown():\n    pass\n")
    return root


@pytest.fixture(scope="session")
def web_settings(tmp_path_factory: pytest.TempPathFactory, web_rubrics_dir: Path, web_pg_url: str) -> Settings:
    tmp = tmp_path_factory.mktemp("web-state")
    return Settings(
        rubrics_dir=web_rubrics_dir,
        database_url=web_pg_url,
        blob_dir=tmp / "blobs",
        broker_url="filesystem://",
        broker_dir=tmp / "broker",
        upload_max_mb=1,
        submissions_per_hour=20,
    )


@pytest.fixture(scope="session")
def cwa_rubric(web_settings: Settings):
    from grader.rubrics.loader import load_coursework

    return load_coursework("cwa", web_settings).rubric


@pytest.fixture(scope="session")
def woken() -> Woken:
    """Wake-ups the app sent (instead of a broker), for the whole session (the live server's too):
    compare lengths before and after."""
    return Woken()


@pytest.fixture
def sessions(web_engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield session_factory(web_engine)
    empty_tables(web_engine, keep=frozenset({"courseworks"}))
    with web_engine.begin() as conn:
        conn.execute(update(Coursework).values(released_at=None))


@pytest.fixture
def client(web_settings: Settings, web_engine: Engine, sessions, woken) -> Iterator[TestClient]:
    app = create_app(web_settings, engine=web_engine, run_queue=woken)
    with TestClient(app, base_url="http://127.0.0.1") as c:  # the lifespan syncs the courseworks
        yield c


@dataclass
class People:
    """Usernames by role, roster ids, and each account's user id."""

    usernames: dict[str, str] = field(default_factory=dict)
    student_ids: dict[str, int] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    service_token: str = ""


def make_people(sessions: sessionmaker[Session]) -> People:
    out = People()
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
                name=username.title(),
                role=Role("student" if role == "other" else role),
            )
            give_password(session, user)
            out.usernames[role], out.user_ids[role] = username, user.id
            if ext:
                student = Student(
                    external_id=ext, name=username.title(), email=f"{username}@example.ac.uk", user_id=user.id
                )
                session.add(student)
                session.commit()
                out.student_ids[role] = student.id
        service = create_user(session=session, username="cate", role=Role.service)
        out.service_token, _ = create_token(session=session, user=service)
        session.add(Student(external_id="s3", name="Carol"))
        session.commit()
    return out


@pytest.fixture
def people(sessions: sessionmaker[Session]) -> People:
    return make_people(sessions)


# The browser tests: one live server and one Chromium per test session (per xdist worker).


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(web_settings: Settings, web_engine: Engine, woken) -> Iterator[str]:
    """The real app served by uvicorn in a thread; yields its base URL."""
    import uvicorn

    port = _free_port()
    app = create_app(
        web_settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"}), engine=web_engine, run_queue=woken
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the live server did not start", pytrace=False)
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium through Playwright. Fails (never skips) when it is missing."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure_browser.sh (make services does)", pytrace=False)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server: str, sessions) -> Iterator[object]:
    """A fresh browser context (no cookies) with its base URL at the live server."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
