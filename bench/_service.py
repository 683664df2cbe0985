"""Plumbing shared by the service benchmarks (``ingest.py``, ``throughput.py``): a throwaway
gradebook database, a Redis database for wake-ups, students with API tokens, the real API under
uvicorn and real ``grader worker`` processes.

Everything is registered on an ``ExitStack`` the caller holds, so the databases, the Redis db,
the processes and the temp files go away however the run ends (Ctrl-C and SIGTERM included:
``interrupt_on_sigterm``). Child processes get their own session (process group): the terminal's
Ctrl-C reaches only the benchmark, which then stops them in order, by their group id.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SERVER_URL = os.environ.get("GRADER_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_BASE = os.environ.get("GRADER_BENCH_REDIS_URL", "redis://127.0.0.1:6379")
# The worker tests use Redis dbs 4..15 and 0 is the default: a bench run stays out of their way.
DEFAULT_REDIS_DB = 3
HOST = "127.0.0.1"
START_TIMEOUT_S = 180  # a busy 2-core machine starts uvicorn and Celery slowly: slow is not broken
# In the environment of every process we start, and so of their children: a worker's judge runs in a
# session of its own and outlives a killed worker, and this is how it is found (and only ours are).
MARKER_VAR, RUN_ID = "GRADER_BENCH_RUN_ID", uuid.uuid4().hex


def interrupt_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every ``finally`` (and the ExitStack) runs."""

    def _raise(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _raise)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def wait_for(check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.3) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


# -- the gradebook --------------------------------------------------------------------------------


@contextmanager
def bench_database(name: str) -> Iterator[str]:
    """A fresh database ``name`` on the benchmark's Postgres, migrated to head; dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from grader.db.migrate import upgrade

    server = make_url(SERVER_URL)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))  # left by a killed run
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        sys.exit(
            f"the benchmark needs Postgres at {server.render_as_string(hide_password=True)} "
            f"(set GRADER_BENCH_DATABASE_URL): {exc.orig}"
        )
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        log(f"dropped database {name}")


@contextmanager
def redis_database(number: int) -> Iterator[str]:
    """``redis://.../<number>``, which must be empty at the start (another run may be using it);
    flushed at the end."""
    import redis

    if number == 0:
        sys.exit("use a Redis db other than 0 for the benchmark: it is flushed at the end")
    url = f"{REDIS_BASE}/{number}"
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        keys = client.dbsize()
    except redis.exceptions.ConnectionError as exc:
        sys.exit(f"the benchmark needs Redis at {REDIS_BASE} (set GRADER_BENCH_REDIS_URL): {exc}")
    if keys:
        sys.exit(
            f"Redis db {number} holds {keys} keys: another run is using it, or a killed run left them "
            f"(choose another with --redis-db, or `redis-cli -n {number} flushdb`)"
        )
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
        log(f"flushed Redis db {number}")


def sync_rubrics(url: str, rubrics_dir: Path) -> None:
    """The courseworks table in step with ``rubrics_dir`` (the API does it too, at start)."""
    from grader.courseworks.sync import load_all, sync_courseworks
    from grader.db.engine import make_engine, session_factory
    from grader.settings import Settings

    settings = Settings(database_url=url, rubrics_dir=rubrics_dir)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            rows = sync_courseworks(session=session, courseworks=load_all(settings))
        if not rows:
            raise RuntimeError(f"no usable coursework under {rubrics_dir}")
    finally:
        engine.dispose()


def add_students(url: str, count: int, prefix: str) -> list[str]:
    """``count`` students on the roster, each with an account and a submit/read token. Returns the
    tokens' secrets."""
    from grader.db.engine import make_engine, session_factory
    from grader.roster.models import Student
    from grader.users.models import Role
    from grader.users.service import create_token, create_user

    engine = make_engine(url)
    secrets = []
    try:
        with session_factory(engine)() as session:
            for i in range(count):
                username = f"{prefix}{i:04d}"
                user = create_user(session=session, username=username, role=Role.student)
                session.add(Student(external_id=username, name=username, user_id=user.id))
                session.commit()
                secret, _ = create_token(session=session, user=user, name="bench", scopes=("submit", "read"))
                secrets.append(secret)
    finally:
        engine.dispose()
    return secrets


# -- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def service_env(
    *, database_url: str, broker_url: str, blob_dir: Path, rubrics_dir: Path, **extra: object
) -> dict[str, str]:
    """The environment of the API and the workers: settings come from ``GRADER_*`` variables."""
    env = dict(os.environ)  # the caller's own GRADER_* (runtime, sandbox limits) apply as for the CLI
    env.update(
        GRADER_DATABASE_URL=database_url,
        GRADER_BROKER_URL=broker_url,
        GRADER_BLOB_DIR=str(blob_dir),
        GRADER_RUBRICS_DIR=str(rubrics_dir),
    )
    env[MARKER_VAR] = RUN_ID
    env.update({f"GRADER_{k.upper()}": str(v) for k, v in extra.items()})
    return env


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log_path: Path

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None


def spawn(
    stack: ExitStack, name: str, cmd: list[str], env: dict[str, str], log_path: Path, stop_grace_s: float = 30
) -> Child:
    """Start ``cmd`` in its own process group, output to ``log_path``; stopped when ``stack`` closes
    (``stop``, then ``kill_marked``)."""
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    child = Child(name, proc, log_path)
    stack.callback(kill_marked)  # after every stop(): LIFO
    stack.callback(stop, child, stop_grace_s)
    return child


def stop(child: Child, grace_s: float) -> None:
    """SIGTERM to the leader only (uvicorn stops its workers, Celery finishes the job in hand), then
    SIGKILL to whatever of its group is left."""
    if child.proc.poll() is None:
        child.proc.terminate()
        try:
            child.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            log(f"{child.name} did not stop within {grace_s:.0f}s: killing it")
    try:
        os.killpg(child.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.proc.wait()


def kill_marked() -> int:
    """SIGKILL every process with this run's ``RUN_ID`` in its environment (orphaned judges)."""
    needle = f"{MARKER_VAR}={RUN_ID}".encode()
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
        except (OSError, ProcessLookupError):
            pass  # gone meanwhile, or not ours to read
    return killed


def create_api():  # type: ignore[no-untyped-def]
    """``uvicorn _service:create_api --factory``: the API with its settings from the environment."""
    from grader.server import create_app
    from grader.settings import get_settings
    from workers.dispatch import CeleryRunQueue

    settings = get_settings()
    return create_app(settings, run_queue=CeleryRunQueue(settings))


def start_api(stack: ExitStack, env: dict[str, str], tmp: Path, *, workers: int) -> str:
    """The real API under uvicorn (``--workers N`` processes, settings from ``env``); returns its
    base URL once ``/api/v1/health`` answers 200."""
    import httpx

    port = free_port()
    # `grader serve` takes no --workers: uvicorn needs an import string for that, so ours is this module's.
    cmd = [
        str(BIN / "python"),
        "-m",
        "uvicorn",
        "_service:create_api",
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    child = spawn(stack, "the API", cmd, {**env, "PYTHONPATH": str(REPO / "bench")}, tmp / "api.log")
    base = f"http://{HOST}:{port}"

    def healthy() -> bool:
        if not child.alive():
            raise RuntimeError(f"the API exited ({child.proc.returncode}):\n{child.output()[-4000:]}")
        try:
            return httpx.get(f"{base}/api/v1/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(healthy, START_TIMEOUT_S, "the API to answer /api/v1/health")
    return base


def start_workers(stack: ExitStack, env: dict[str, str], tmp: Path, count: int) -> list[Child]:
    """``count`` ``grader worker`` processes (one job at a time each), returned once all are ready."""
    children = [
        spawn(
            stack,
            f"worker {i}",
            [str(BIN / "grader"), "worker", "--concurrency", "1"],
            env,
            tmp / f"worker{i}.log",
            stop_grace_s=20,
        )
        for i in range(count)
    ]

    def ready() -> bool:
        for child in children:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited ({child.proc.returncode}):\n{child.output()[-4000:]}")
        return all("ready." in c.output() for c in children)

    wait_for(ready, START_TIMEOUT_S, f"{count} workers to be ready")
    return children
