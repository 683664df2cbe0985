"""The private Postgres and Redis of tests/private_services.py: restarts, and clean-up on failure."""

from __future__ import annotations

import os
import socket

import psycopg
import pytest
from private_services import HOST, private_postgres, private_redis


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) == 0


def test_postgres_keeps_committed_rows_across_restarts_and_is_removed_after_a_failure():
    with pytest.raises(RuntimeError, match="the test failed"):
        with private_postgres() as pg:
            port, where = pg.port, pg.dir
            pg.create_database("t")
            conn = dict(host=HOST, port=pg.port, user="postgres", dbname="t")
            with psycopg.connect(**conn, autocommit=True) as c:
                c.execute("CREATE TABLE t (n int)")
                c.execute("INSERT INTO t VALUES (1)")
                assert c.execute("SHOW fsync").fetchone() == ("on",)
            for n, mode in enumerate(("immediate", "fast"), start=2):
                with psycopg.connect(**conn) as c:
                    c.execute("INSERT INTO t VALUES (%s)", (n,))
                    c.commit()
                    pg.restart(mode)
                    with pytest.raises(psycopg.OperationalError):  # the old connection died with it
                        c.execute("SELECT 1")
                assert pg.port == port
            with psycopg.connect(**conn) as c:
                assert [r[0] for r in c.execute("SELECT n FROM t ORDER BY n")] == [1, 2, 3]
            raise RuntimeError("the test failed")
    assert not where.exists() and not listening(port)


def test_redis_restart_loses_everything_and_a_failure_still_stops_it():
    with pytest.raises(RuntimeError, match="the test failed"):
        with private_redis() as server:
            port, where = server.port, server.dir
            server.client().set("k", "v")
            server.restart()
            pid = server.proc.pid
            assert server.port == port and server.client().get("k") is None
            assert server.client().config_get("save") == {"save": ""}
            raise RuntimeError("the test failed")
    assert not where.exists() and not listening(port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
