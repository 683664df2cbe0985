"""The time services stamp rows with."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

UTC = dt.UTC


def db_now(session: Session) -> dt.datetime:
    """Now, by the database's clock on Postgres.

    Leases are written by workers on many hosts and judged by a sweeper on another: one clock
    (the database's) keeps a skewed host from stealing or losing leases. SQLite is embedded, so
    the local clock is the database's clock.
    """
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(text("SELECT clock_timestamp()")).scalar_one().astimezone(UTC)
    return dt.datetime.now(UTC)
