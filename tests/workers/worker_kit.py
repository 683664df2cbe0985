"""Worker tests: real ``grader worker`` processes, real Redis, real Postgres, a real tiny coursework.

Each test session (each xdist worker) gets its own Postgres database (``alembic upgrade head``) and
its own private ``redis-server`` (tests/private_services.py), emptied before each test: a test may
restart that Redis without touching any other test, whatever runs in parallel. Worker processes start in their own
process group and are SIGKILLed with it at the end of each test; every process they start (the
judge runs in a session of its own) carries a marker in its environment, and anything still
carrying it is killed too, so no worker or judge outlives a test.

Postgres or redis-server missing is a failure, never a skip (CI starts them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from pg_database import empty_tables, migrated_database
from private_services import PrivateRedis, private_redis
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from grader.blobs import LocalBlobStore
from grader.courseworks.models import Coursework
from grader.db.engine import make_engine, session_factory
from grader.roster.models import Student
from grader.runs.models import GradingRun, RunItemScore, RunTestResult
from grader.runs.service import enqueue_run
from grader.settings import REPO_ROOT, Settings
from grader.submissions.service import record_submission
from workers.celery_app import make_app

GRADER = str(Path(sys.executable).parent / "grader")
LEASE_S = 10  # the smallest lease settings allow: a vanished worker's run is back within seconds
SWEEP_S = 1


def notebook(body: str) -> bytes:
    """A one-cell submission defining ``add_one`` (``body`` is its indented body)."""
    cell = nbformat.v4.new_code_cell(f"def add_one(x):\n    {body}")
    return nbformat.writes(nbformat.v4.new_notebook(cells=[cell])).encode()


def slow_notebook(seconds: float) -> bytes:
    """Right answer, after ``seconds``: a grading run long enough to kill a worker in the middle."""
    return notebook(f"import time; time.sleep({seconds}); return x + 1")


def mini_coursework(root: Path) -> Path:
    """The ``mini`` coursework: one auto item (2 points, one hidden test) and one manual (1 point)."""
    cw = root / "mini"
    (cw / "hidden").mkdir(parents=True)
    (cw / "rubric.yaml").write_text(
        textwrap.dedent("""\
        coursework: mini
        title: Mini
        weight: 0.4
        total_points: 3
        mode: definitions
        submission: {notebook: mini.ipynb}
        parts: [{id: "1", title: One, points: 3}]
        items:
          - {id: add, part: "1", title: Add one, points: 2, auto: {tests: ["test_mini.py::test_add"]}}
          - {id: talk, part: "1", title: Discussion, points: 1, manual: true}
        """)
    )
    (cw / "hidden" / "test_mini.py").write_text(
        textwrap.dedent("""\
        def test_add(student, run_seed):
            x = run_seed % 1000
            assert student.run("y = add_one(x)", inputs={"x": x}, outputs=["y"])["y"] == x + 1, "wrong sum"
        """)
    )
    for name, body in (("solution", "return x + 1"), ("skeleton", "raise NotImplementedError")):
        (cw / f"{name}.ipynb").write_bytes(notebook(body))
    return root


# -- Postgres -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with migrated_database("grader_wtest", "the worker tests") as url:
        yield url


@pytest.fixture(scope="session")
def engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


# -- Redis ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def broker_redis() -> Iterator[PrivateRedis]:
    """This session's own Redis (no persistence): tests restart it at will."""
    with private_redis() as server:
        yield server


# -- the world one test runs in -------------------------------------------------------------------


@dataclass
class Worker:
    proc: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class World:
    """Gradebook, blob store, broker and worker processes for one test."""

    tmp: Path
    pg_url: str
    sessions: sessionmaker[Session]
    broker_url: str
    rubrics_dir: Path
    api_blobs: LocalBlobStore  # the API's store: what it received
    redis: PrivateRedis  # the broker's server (restart it to lose every wake-up)
    marker: str
    workers: list[Worker] = field(default_factory=list)
    coursework_id: int = 0
    student_ids: list[int] = field(default_factory=list)

    # processes

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
        env.update(
            GRADER_DATABASE_URL=self.pg_url,
            GRADER_BROKER_URL=self.broker_url,
            GRADER_RUBRICS_DIR=str(self.rubrics_dir),
            GRADER_BLOB_DIR=str(self.api_blobs.root),
            GRADER_BROKER_DIR=str(self.tmp / "broker"),
            GRADER_LEASE_S=str(LEASE_S),
            GRADER_SWEEP_INTERVAL_S=str(SWEEP_S),
            GRADER_WORKER_QUEUES='["cpu"]',
            GRADER_TEST_WORKER_MARK=self.marker,
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def start_worker(self, *args: str, wrap: list[str] | None = None, **env: str) -> Worker:
        log = self.tmp / f"worker{len(self.workers)}.log"
        cmd = [*(wrap or []), GRADER, "worker", "--queues", "precheck,cpu", "--concurrency", "1", *args]
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd,
                env=self.env(**env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=REPO_ROOT,
            )
        worker = Worker(proc, log)
        self.workers.append(worker)
        wait_for(lambda: "ready." in worker.output() or proc.poll() is not None, 60, "a worker ready")
        assert proc.poll() is None, worker.output()
        return worker

    def kill(self, worker: Worker, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(worker.proc.pid, sig)
        except ProcessLookupError:
            pass

    def cleanup(self) -> None:
        for worker in self.workers:
            self.kill(worker)
            try:
                worker.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 15
        while kill_marked(self.marker):  # orphaned judges and their reapers: none may outlive the test
            assert time.monotonic() < deadline, "processes of this test survive SIGKILL"
            time.sleep(0.2)

    # gradebook

    def setup_gradebook(self, students: int = 4) -> None:
        with self.sessions() as s:
            cw = Coursework(
                code="mini",
                title="Mini",
                weight=0.4,
                rubric_version="1",
                rubric_digest="0" * 64,
                hidden_digest="0" * 64,
                deadline=None,
                timezone="Europe/London",
            )
            s.add(cw)
            studs = [Student(external_id=f"s{n}", name=f"Student {n}") for n in range(students)]
            s.add_all(studs)
            s.commit()
            self.coursework_id, self.student_ids = cw.id, [st.id for st in studs]

    def submit(self, content: bytes, student: int = 0, store: LocalBlobStore | None = None) -> int:
        """What the API does: store the blob (fsynced), commit the submission, enqueue a run.
        Returns the run id; waking a worker is the test's business."""
        blob = (store or self.api_blobs).put(io.BytesIO(content))
        with self.sessions() as s:
            submission, _ = record_submission(
                session=s,
                coursework_id=self.coursework_id,
                student_id=self.student_ids[student],
                sha256=blob.sha256,
                size_bytes=blob.size,
                original_filename="mini.ipynb",
                blob_key=blob.sha256,
            )
            s.commit()
            run = enqueue_run(session=s, submission_id=submission.id, queue="cpu")
            return run.id

    def wake(self, run_id: int, queue: str = "cpu", countdown: float | None = None) -> None:
        """A wake-up exactly as ``workers.dispatch.wake`` sends it, on this test's broker."""
        app = make_app(
            Settings(broker_url=self.broker_url, broker_dir=self.tmp / "broker", rubrics_dir=self.rubrics_dir)
        )
        try:
            app.send_task("grader.grade_run", args=(run_id,), queue=queue, countdown=countdown)
        finally:
            app.close()
        # (No retry here: only this test uses this Redis, and it restarts it between wake-ups.)

    def run(self, run_id: int) -> GradingRun:
        with self.sessions() as s:
            run = s.get(GradingRun, run_id)
            s.expunge(run)
            return run

    def count(self, model: type, run_id: int) -> int:
        with self.sessions() as s:
            return s.scalar(select(func.count()).select_from(model).where(model.run_id == run_id))

    def runs(self) -> list[GradingRun]:
        with self.sessions() as s:
            rows = s.scalars(select(GradingRun).order_by(GradingRun.id)).all()
            s.expunge_all()
            return list(rows)

    def wait_status(self, run_id: int, statuses: tuple[str, ...], timeout_s: float) -> GradingRun:
        wait_for(
            lambda: self.run(run_id).status.value in statuses,
            timeout_s,
            f"run {run_id} to be {'/'.join(statuses)}",
            self.worker_logs,
        )
        return self.run(run_id)

    def worker_logs(self) -> str:
        return "\n".join(f"--- {w.log.name}\n{w.output()[-4000:]}" for w in self.workers)

    def assert_graded_once(self, run_id: int) -> GradingRun:
        """One graded run for the submission, and its result rows counted once."""
        run = self.run(run_id)
        assert run.status.value == "graded", (run.status, run.error, self.worker_logs())
        with self.sessions() as s:
            live = s.scalars(select(GradingRun).where(GradingRun.submission_id == run.submission_id)).all()
        assert len(live) == 1
        assert run.score == 2 and run.max_score == 3 and run.auto_max_score == 2
        assert self.count(RunItemScore, run_id) == 2  # add, talk
        assert self.count(RunTestResult, run_id) == 1  # test_mini.py::test_add
        return run


def wait_for(pred: Callable[[], bool], timeout_s: float, what: str, diag: Callable[[], str] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}\n{diag() if diag else ''}")
        time.sleep(0.2)


def kill_marked(marker: str) -> int:
    """SIGKILL every process whose environment carries this test's marker (orphaned judges too);
    returns how many were found."""
    needle = f"GRADER_TEST_WORKER_MARK={marker}".encode()
    found = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found += 1
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass
    return found


@pytest.fixture
def world(tmp_path: Path, pg_url: str, engine: Engine, broker_redis: PrivateRedis) -> Iterator[World]:
    if broker_redis.proc is None or broker_redis.proc.poll() is not None:  # an earlier test failed mid-restart
        broker_redis.start(broker_redis.port)
    broker_redis.client().flushall()
    empty_tables(engine)
    w = World(
        tmp=tmp_path,
        pg_url=pg_url,
        sessions=session_factory(engine),
        broker_url=broker_redis.url(),
        rubrics_dir=mini_coursework(tmp_path / "rubrics"),
        api_blobs=LocalBlobStore(tmp_path / "api-blobs"),
        redis=broker_redis,
        marker=uuid.uuid4().hex,
    )
    w.setup_gradebook()
    try:
        yield w
    finally:
        w.cleanup()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


UTC = dt.UTC
