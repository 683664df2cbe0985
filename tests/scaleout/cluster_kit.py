"""Three worker hosts sharing one broker, one gradebook and one blob directory (tests/scaleout).

Builds on the worker tests' kit (tests/workers/worker_kit.py: the ``mini`` coursework, a private
Redis, a migrated Postgres database, the clean-up of every process a test started) and puts each
``grader worker`` on a host of its own (``worker_hosts``): its own network namespace, hostname and
mount namespace, reaching Postgres and Redis over its cable through the proxies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

# The worker tests' kit is a module beside their tests, not on the suite's pythonpath.
sys.path.append(str(Path(__file__).resolve().parents[1] / "workers"))

from pg_database import empty_tables, migrated_database
from private_services import PrivateRedis
from worker_hosts import Host, Network, vanish_blobs, worker_prefix
from worker_kit import GRADER, LEASE_S, World, mini_coursework, wait_for

from grader.blobs import LocalBlobStore
from grader.db.engine import make_engine, session_factory
from grader.runs.models import GradingRun, RunStatus
from grader.settings import REPO_ROOT, Settings
from workers.celery_app import GRADE_RUN, make_app

HOSTS = 3
HOST_ENV = "GRADER_TEST_HOST"  # every process a host starts carries its name: a host crash kills them all


@dataclass
class HostWorker:
    """The ``grader worker`` of one host (restarted after each crash: a new process, same host)."""

    host: Host
    name: str  # its hostname, the first part of every worker id it writes
    proc: subprocess.Popen | None = None
    log: Path | None = None
    starts: int = 0

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""

    def ready(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and "ready." in self.output()


@dataclass
class Cluster:
    """The hosts, their workers, and the world (gradebook, broker, shared blobs) they share."""

    world: World
    network: Network
    shared_blobs: Path  # the department's NFS export, as the API writes to it
    mount_point: Path  # where every host mounts it (GRADER_BLOB_DIR on each)
    workers: list[HostWorker] = field(default_factory=list)

    def host_env(self, worker: HostWorker, **extra: str) -> dict[str, str]:
        """The world's worker settings, with the services at this host's end of the cable."""
        addr = worker.host.root_addr
        return self.world.env(
            TMPDIR=str(self.tmp_dir(worker)),
            GRADER_DATABASE_URL=make_url(self.world.pg_url).set(host=addr).render_as_string(hide_password=False),
            GRADER_BROKER_URL=self.world.broker_url.replace("127.0.0.1", addr),
            GRADER_BLOB_DIR=str(self.mount_point),
            **{HOST_ENV: worker.name},
            **extra,
        )

    def tmp_dir(self, worker: HostWorker) -> Path:
        """The host's own temporary folder: the job folders its worker fetches submissions into."""
        path = self.world.tmp / f"{worker.name}-tmp"
        path.mkdir(exist_ok=True)
        return path

    def fetched(self, worker: HostWorker, run_id: int) -> bool:
        """Whether the host's worker has the run's submission in its job folder (fetched from the store)."""
        return any(self.tmp_dir(worker).glob(f"grader-run{run_id}-*/*.ipynb"))

    def start(self, worker: HostWorker, **env: str) -> None:
        """Start (or restart) the host's worker; ``wait_ready`` waits for it."""
        worker.starts += 1
        worker.log = self.world.tmp / f"{worker.name}-{worker.starts}.log"
        # A hostname of its own (worker ids name the host), the shared blob directory mounted.
        cmd = [
            *worker_prefix(worker.host, worker.name, self.shared_blobs, self.mount_point),
            GRADER,
            "worker",
            "--queues",
            "precheck,cpu",
            "--concurrency",
            "1",
        ]
        with open(worker.log, "wb") as out:
            worker.proc = subprocess.Popen(
                cmd,
                env=self.host_env(worker, **env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=REPO_ROOT,
            )

    def wait_ready(self, worker: HostWorker, timeout_s: float = 90) -> None:
        wait_for(
            lambda: worker.ready() or (worker.proc is not None and worker.proc.poll() is not None),
            timeout_s,
            f"{worker.name} ready",
        )
        assert worker.ready(), worker.output()

    def start_all(self, **env: str) -> None:
        for worker in self.workers:
            self.start(worker, **env)
        for worker in self.workers:
            self.wait_ready(worker)

    def crash(self, worker: HostWorker) -> None:
        """SIGKILL everything the host runs (worker, pool, judge): no ack, no clean-up, no last write."""
        if worker.proc is not None:
            try:
                os.killpg(worker.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        kill_with_env(HOST_ENV, worker.name)
        if worker.proc is not None:
            worker.proc.wait(timeout=30)

    def host_of(self, worker_id: str | None) -> HostWorker | None:
        """The host whose worker wrote ``worker_id`` (``hostname:pid:token``)."""
        name = (worker_id or "").split(":", 1)[0]
        return next((w for w in self.workers if w.name == name), None)

    def vanish_blobs(self, worker: HostWorker) -> None:
        assert worker.proc is not None
        vanish_blobs(worker.proc.pid, self.mount_point)

    def wake_all(self, run_ids: list[int]) -> None:
        """The API's wake-ups, one app for the lot, through the broker on loopback."""
        app = make_app(
            Settings(
                broker_url=self.world.broker_url,
                broker_dir=self.world.tmp / "broker",
                rubrics_dir=self.world.rubrics_dir,
            )
        )
        try:
            for run_id in run_ids:
                app.send_task(GRADE_RUN, args=(run_id,), queue="cpu")
        finally:
            app.close()

    def running(self) -> list[GradingRun]:
        with self.world.sessions() as s:
            rows = s.scalars(select(GradingRun).where(GradingRun.status == RunStatus.running)).all()
            s.expunge_all()
            return list(rows)

    def logs(self) -> str:
        parts = []
        for log in sorted(self.world.tmp.glob("grader-*.log")):
            parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)


def kill_with_env(name: str, value: str) -> int:
    """SIGKILL every process whose environment has ``name=value``; returns how many."""
    needle = f"{name}={value}".encode()
    found = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
                found += 1
        except (OSError, ProcessLookupError):
            pass
    return found


# A database of this folder's own: the worker tests' fixture of the same name, run in the same
# process, would create (and drop) the same database name.
@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with migrated_database("grader_scaleout", "the scale-out tests") as url:
        yield url


@pytest.fixture(scope="session")
def engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def cluster(tmp_path: Path, pg_url: str, engine: Engine, broker_redis: PrivateRedis) -> Iterator[Cluster]:
    """Three hosts (not started: a test starts them with the settings it needs), the ``mini``
    coursework, and four students. Everything is taken down afterwards, a failed test included."""
    if broker_redis.proc is None or broker_redis.proc.poll() is not None:
        broker_redis.start(broker_redis.port)
    broker_redis.client().flushall()
    empty_tables(engine)
    shared = tmp_path / "nfs-export"
    mount_point = tmp_path / "mnt-blobs"  # empty here: only the hosts see the export mounted on it
    mount_point.mkdir()
    shared.mkdir()
    world = World(
        tmp=tmp_path,
        pg_url=pg_url,
        sessions=session_factory(engine),
        broker_url=broker_redis.url(),
        rubrics_dir=mini_coursework(tmp_path / "rubrics"),
        api_blobs=LocalBlobStore(shared),
        redis=broker_redis,
        marker=uuid.uuid4().hex,
    )
    world.setup_gradebook(students=60)  # a student per submission of the burst
    network = Network.build(HOSTS, [make_url(pg_url).port or 5432, broker_redis.port], tmp_path)
    cluster = Cluster(world, network, shared, mount_point)
    try:
        cluster.workers = [
            HostWorker(host, f"grader-host{host.index}-{uuid.uuid4().hex[:4]}") for host in network.hosts
        ]
        yield cluster
    finally:
        try:
            for worker in cluster.workers:
                cluster.crash(worker)
            world.cleanup()
        finally:
            network.close()


__all__ = ["LEASE_S", "Cluster", "HostWorker", "cluster", "engine", "pg_url"]
