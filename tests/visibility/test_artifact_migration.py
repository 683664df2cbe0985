"""Migration 0011_artifact_items: artifacts kept before it belong to no item (which test drew them was
not recorded), so a student no longer sees them; markers still do."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import inspect, text

from grader.db.engine import make_engine
from grader.db.migrate import downgrade, upgrade


def test_artifacts_kept_before_the_migration_belong_to_no_item(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    upgrade(url, "0007_token_views")
    engine = make_engine(url)
    try:
        with closing(sqlite3.connect(tmp_path / "gradebook.db")) as db, db:  # no foreign keys: no run needed
            db.execute(
                "INSERT INTO run_artifacts (run_id, name, position, title, media_type, blob_key, sha256, "
                "size_bytes) VALUES (1, 'grid', 0, 't', 'image/png', 'k', 'k', 9)"
            )
        upgrade(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name, item_id FROM run_artifacts")).all() == [("grid", None)]
        downgrade(url, "0007_token_views")
        assert "item_id" not in {c["name"] for c in inspect(engine).get_columns("run_artifacts")}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM run_artifacts")).all() == [("grid",)]  # nothing lost
    finally:
        engine.dispose()
