"""The API fuzzer's fixtures: a real ``grader serve`` (uvicorn, in its own process) on a free port,
over its own migrated Postgres gradebook, a content-addressed blob store and the filesystem broker
with no worker behind it (uploads queue runs that are never graded); the gradebook re-seeded before
each role's run; that role's schemathesis schema, loaded from the service's own ``/openapi.json``.

``GRADER_FUZZ_EXAMPLES`` sets the examples per operation and role (default 10: `make test` stays
within a few minutes on two cores); raise it for a longer hunt, e.g. ``GRADER_FUZZ_EXAMPLES=200``.
Each run draws a fresh seed; ``GRADER_FUZZ_SEED`` replays the one a failure names.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from fuzz_hooks import install_hooks
from fuzz_kit import Seeded, seed, write_rubrics
from pg_database import empty_tables, migrated_database
from schemathesis.config import SchemathesisConfig
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from grader.blobs import BlobStore, LocalBlobStore
from grader.courseworks.models import Coursework
from grader.db.engine import make_engine, session_factory
from grader.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def fuzz_pg_url() -> Iterator[str]:
    with migrated_database("grader_fuzz_test", "the API fuzzer") as url:
        yield url


@pytest.fixture(scope="session")
def fuzz_engine(fuzz_pg_url: str) -> Iterator[Engine]:
    engine = make_engine(fuzz_pg_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def fuzz_settings(tmp_path_factory: pytest.TempPathFactory, fuzz_pg_url: str) -> Settings:
    tmp = tmp_path_factory.mktemp("fuzz")
    # A generous rate limit: the fuzzer uploads far more than a student would in an hour.
    return Settings(
        rubrics_dir=write_rubrics(tmp / "rubrics"),
        database_url=fuzz_pg_url,
        blob_dir=tmp / "blobs",
        broker_url="filesystem://",
        broker_dir=tmp / "broker",
        log_dir=tmp / "log",
        upload_max_mb=1,
        submissions_per_hour=100_000,
        jobs_dir=tmp / "jobs",
        state_dir=tmp / "state",
        secret_key=secrets.token_urlsafe(32),
    )


@pytest.fixture(scope="session")
def server_log(fuzz_settings: Settings) -> Path:
    fuzz_settings.log_dir.mkdir(parents=True, exist_ok=True)
    return fuzz_settings.log_dir / "serve.log"


@pytest.fixture(scope="session")
def live_service(fuzz_settings: Settings, server_log: Path) -> Iterator[str]:
    """``grader serve`` in a child process, configured through GRADER_* like a deployment; its
    log (tracebacks of any 500) goes to ``server_log``. Yields its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "GRADER_RUBRICS_DIR": str(fuzz_settings.rubrics_dir),
        "GRADER_DATABASE_URL": fuzz_settings.database_url,
        "GRADER_BLOB_DIR": str(fuzz_settings.blob_dir),
        "GRADER_BROKER_URL": fuzz_settings.broker_url,
        "GRADER_BROKER_DIR": str(fuzz_settings.broker_dir),
        "GRADER_LOG_DIR": str(fuzz_settings.log_dir),
        "GRADER_UPLOAD_MAX_MB": str(fuzz_settings.upload_max_mb),
        "GRADER_SUBMISSIONS_PER_HOUR": str(fuzz_settings.submissions_per_hour),
        "GRADER_JOBS_DIR": str(fuzz_settings.jobs_dir),
        "GRADER_STATE_DIR": str(fuzz_settings.state_dir),
        "GRADER_SECRET_KEY": fuzz_settings.secret_key,
        "GRADER_PUBLIC_URL": f"http://127.0.0.1:{port}",
        # The code of this checkout, whichever checkout the virtualenv's editable install points at.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    grader = Path(sys.executable).with_name("grader")
    with server_log.open("ab") as log:
        proc = subprocess.Popen(
            [str(grader), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"grader serve did not start:\n{server_log.read_text()[-3000:]}", pytrace=False)
        time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def fuzz_sessions(fuzz_engine: Engine) -> sessionmaker[Session]:
    return session_factory(fuzz_engine)


@pytest.fixture(scope="session")
def fuzz_blobs(fuzz_settings: Settings) -> BlobStore:
    return LocalBlobStore(fuzz_settings.blob_dir)


@pytest.fixture
def seeded(
    live_service: str,
    fuzz_engine: Engine,
    fuzz_sessions: sessionmaker[Session],
    fuzz_blobs: BlobStore,
    fuzz_settings: Settings,
) -> Seeded:
    """The same starting gradebook for every role's run (ids restart), courseworks kept as the
    service synced them at its start."""
    empty_tables(fuzz_engine, keep=frozenset({"courseworks"}))
    with fuzz_engine.begin() as conn:
        conn.execute(update(Coursework).values(released_at=None))
    return seed(live_service, fuzz_sessions, fuzz_blobs, fuzz_settings)


@pytest.fixture
def api_schema(live_service: str, seeded: Seeded, role: str):
    """The running service's OpenAPI document as this role's fuzzer sees it."""
    # A request the document says is invalid must get one of these; 413 is the body-size limit
    # every route has (a too-long roster is also too large), 5xx never (not_a_server_error).
    config = SchemathesisConfig.from_dict(
        {
            "checks": {
                "negative_data_rejection": {"expected-statuses": [400, 401, 403, 404, 405, 409, 413, 415, 422, 429]}
            }
        }
    )
    schema = schemathesis.openapi.from_url(f"{live_service}/openapi.json", config=config)
    if os.environ.get("GRADER_FUZZ_SEED"):  # replay a failed run (its message names the seed)
        schema.config.seed = int(os.environ["GRADER_FUZZ_SEED"])
    # A generous timeout: two shared cores, and the largest valid bodies (10,000 roster entries).
    schema.config.update(base_url=live_service, headers=seeded.headers(role), request_timeout=60)
    install_hooks(schema, seeded, role)
    return schema
