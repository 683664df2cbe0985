"""Migration 0017: a coursework of weight 0 (a tutorial) fits the weight check on Postgres and SQLite;
going back below it is refused while a tutorial's row exists, rather than deleting its work."""

from __future__ import annotations

from pathlib import Path

import pytest
from pg_database import migrated_database
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from grader.db.engine import make_engine
from grader.db.migrate import downgrade, upgrade

BEFORE = "0014_overview_changes"
INSERT = (
    "INSERT INTO courseworks (code, title, weight, rubric_version, rubric_digest, hidden_digest, timezone, created_at)"
)


def add(engine, code: str, weight: float) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(f"{INSERT} VALUES (:c, 't', :w, '1', 'r', 'h', 'Europe/London', CURRENT_TIMESTAMP)"),
            {"c": code, "w": weight},
        )


def weight_check_holds(url: str) -> None:
    engine = make_engine(url)
    try:
        add(engine, "tut1", 0)
        for bad in (-0.1, 1.5):
            with pytest.raises(IntegrityError, match="weight_range"):
                add(engine, f"bad{bad}", bad)
        with pytest.raises(Exception, match="unassessed coursework"):
            downgrade(url, BEFORE)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM courseworks WHERE code = 'tut1'"))
        downgrade(url, BEFORE)
        with pytest.raises(IntegrityError, match="weight_range"):
            add(engine, "tut1", 0)  # the old check is back
        upgrade(url)
        add(engine, "tut1", 0)
    finally:
        engine.dispose()


def test_weight_zero_on_postgres_both_ways():
    with migrated_database("grader_tutorial_migration", "the tutorial migration test") as url:
        weight_check_holds(url)


def test_weight_zero_on_sqlite_both_ways(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    upgrade(url)
    weight_check_holds(url)
