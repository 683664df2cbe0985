"""Running PostgreSQL's own client tools (pg_dump, pg_restore) on a SQLAlchemy URL.

The password goes in the environment (PGPASSWORD), never on a command line other users can read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from grader.backup.manifest import SnapshotError


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and the environment that carries it."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    # Only what libpq knows: the driver's own query options (psycopg's) would be refused.
    plain = parsed.set(drivername="postgresql", password=None, query={})
    return plain.render_as_string(hide_password=False), env


def run_tool(name: str, args: list[str], url: str) -> None:
    exe = shutil.which(name)
    if exe is None:
        raise SnapshotError(f"{name} is not installed: install the PostgreSQL client (scripts/ensure_pg_client.sh)")
    target, env = libpq_target(url)
    done = subprocess.run([exe, *args, f"--dbname={target}"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SnapshotError(f"{name} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")


def dump(url: str, out: Path, snapshot_id: str) -> None:
    """pg_dump in the custom format, inside the exported snapshot ``snapshot_id``."""
    run_tool(
        "pg_dump",
        ["--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot_id}", f"--file={out}"],
        url,
    )


def restore(url: str, dump_file: Path) -> None:
    """pg_restore into an empty database, all or nothing (one transaction)."""
    run_tool(
        "pg_restore", ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", str(dump_file)], url
    )
