"""A private PostgreSQL cluster and a private Redis for fault tests that stop or restart them.

Restarting the shared servers at 127.0.0.1:5432 and :6379 would break every other test running
at the same time (CI runs ``pytest -n 2``), so a fault test restarts its own: ``initdb`` into a
fresh directory (as the ``postgres`` OS user when we are root, since initdb refuses root) and a
``redis-server`` without persistence, each on a free port of 127.0.0.1. The context managers
stop them and remove their files when the block ends, a failing test included.

The server binaries missing is a failure, never a skip: CI installs them (scripts/ensure_services.sh).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import redis

HOST = "127.0.0.1"
START_TIMEOUT_S = 120  # the machine may be busy: a slow start is not a failure


def free_port() -> int:
    """A port nobody listens on now (a race with another process is retried by the starters)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        pytest.fail(f"PostgreSQL's {name} is not installed (apt-get install postgresql)", pytrace=False)
    return found[-1]  # the newest major version


def _private_dir(prefix: str, owner: str | None) -> Path:
    # Under /tmp, not pytest's tmp_path: root's tmp_path is closed to the postgres user.
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if owner:
        shutil.chown(path, owner, owner)
    return path


class PrivatePostgres:
    """One PostgreSQL cluster of our own: trust auth, fsync on, 127.0.0.1 only."""

    def __init__(self) -> None:
        self.os_user = "postgres" if os.geteuid() == 0 else None
        self.dir = _private_dir("grader-pg-", self.os_user)
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = 0

    def _run(self, *cmd: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess:
        return subprocess.run(
            cmd,
            user=self.os_user,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.dir,
            env={**os.environ, "LC_ALL": "C.UTF-8", "PGTZ": "UTC"},
        )

    def init(self) -> None:
        done = self._run(
            _pg_bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-instructions",
        )
        if done.returncode:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '{HOST}'\nunix_socket_directories = '{self.dir}'\n"
                "fsync = on\nsynchronous_commit = on\nmax_connections = 60\nshared_buffers = 16MB\n"
            )

    def start(self, port: int | None = None) -> None:
        """Start on ``port`` (after a stop), or on a free port, trying others if one is taken meanwhile."""
        for _ in range(1 if port else 5):
            self.port = port or free_port()
            self._set_port()
            done = self._run(
                _pg_bin("pg_ctl"), "start", "-w", "-t", str(START_TIMEOUT_S), "-D", str(self.data), "-l", str(self.log)
            )
            if done.returncode == 0:
                return
        raise RuntimeError(f"postgres did not start:\n{done.stderr}\n{self.log_tail()}")

    def _set_port(self) -> None:
        # postgresql.auto.conf wins over postgresql.conf and survives restarts.
        (self.data / "postgresql.auto.conf").write_text(f"port = {self.port}\n")
        if self.os_user:
            shutil.chown(self.data / "postgresql.auto.conf", self.os_user, self.os_user)

    def stop(self, mode: str = "fast") -> None:
        """``fast``: roll back sessions, checkpoint, exit. ``immediate``: kill everything at once
        (as a crash would); the next start runs crash recovery from the WAL."""
        done = self._run(_pg_bin("pg_ctl"), "stop", "-w", "-m", mode, "-D", str(self.data))
        if done.returncode and self.running():
            raise RuntimeError(f"pg_ctl stop -m {mode} failed: {done.stderr}")

    def restart(self, mode: str = "immediate", down_s: float = 0) -> None:
        """Stop with ``mode``, stay down ``down_s`` seconds, start again on the same port; returns
        once it accepts connections."""
        if down_s:
            self.stop(mode)
            time.sleep(down_s)
            self.start(self.port)
            return
        done = self._run(
            _pg_bin("pg_ctl"),
            "restart",
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "-m",
            mode,
            "-D",
            str(self.data),
            "-l",
            str(self.log),
        )
        if done.returncode:
            raise RuntimeError(f"pg_ctl restart -m {mode} failed:\n{done.stderr}\n{self.log_tail()}")

    def running(self) -> bool:
        return self._run(_pg_bin("pg_ctl"), "status", "-D", str(self.data), timeout=30).returncode == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{HOST}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(host=HOST, port=self.port, user="postgres", dbname="postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def remove(self) -> None:
        try:
            if self.data.exists() and self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """One redis-server of our own: no RDB, no AOF, its own directory; a child of this process."""

    def __init__(self) -> None:
        self.dir = _private_dir("grader-redis-", None)
        self.port = 0
        self.proc: subprocess.Popen | None = None

    def start(self, port: int | None = None) -> None:
        """Start on ``port`` (a restart), or on a free port, trying others if one is taken meanwhile."""
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)", pytrace=False)
        for _ in range(1 if port else 5):
            self.port = port or free_port()
            self.proc = subprocess.Popen(
                [
                    binary,
                    "--bind",
                    HOST,
                    "--port",
                    str(self.port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.dir),
                    "--logfile",
                    str(self.dir / "redis.log"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                self.ping(START_TIMEOUT_S)
                return
            except redis.exceptions.ConnectionError:
                self.stop()
        raise RuntimeError(f"redis-server did not start: {self.log_tail()}")

    def ping(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.client(socket_timeout=2).ping()
                return
            except redis.exceptions.ConnectionError:
                if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM (it saves nothing: persistence is off), then SIGKILL if it lingers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None

    def restart(self) -> None:
        """Stop and start on the same port: everything it held is gone."""
        self.stop()
        self.start(self.port)

    def client(self, db: int = 0, **kwargs) -> redis.Redis:
        return redis.Redis(HOST, self.port, db=db, **kwargs)

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def log_tail(self, chars: int = 3000) -> str:
        log = self.dir / "redis.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else ""

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started cluster for the block; stopped (immediately) and deleted afterwards, whatever happened."""
    pg = PrivatePostgres()
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.remove()


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    """A started redis-server for the block; stopped and deleted afterwards, whatever happened."""
    server = PrivateRedis()
    try:
        server.start()
        yield server
    finally:
        server.remove()
