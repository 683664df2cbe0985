"""The one migration history builds the models' schema on Postgres and on SQLite, both ways."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Engine, inspect

from grader.cli import main
from grader.db.engine import make_engine
from grader.db.migrate import downgrade, upgrade
from grader.tables import metadata

POSTGRES_MAX_IDENTIFIER = 63


def schema_drift(engine: Engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)


def test_migrations_build_exactly_the_models_schema_on_postgres(engine):
    # The session's database was built by `alembic upgrade head` (conftest).
    assert schema_drift(engine) == []


def test_every_constraint_and_index_name_fits_postgres():
    names = [c.name for t in metadata.tables.values() for c in (*t.constraints, *t.indexes)]
    assert all(names) and max(map(len, names)) <= POSTGRES_MAX_IDENTIFIER
    assert len(names) == len(set(names))


def test_the_same_migrations_upgrade_and_downgrade_on_sqlite(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    engine = make_engine(url)
    try:
        upgrade(url)
        assert set(inspect(engine).get_table_names()) == set(metadata.tables) | {"alembic_version"}
        assert schema_drift(engine) == []
        downgrade(url, "base")
        assert inspect(engine).get_table_names() == ["alembic_version"]
        upgrade(url)  # and back up again from nothing
        assert schema_drift(engine) == []
    finally:
        engine.dispose()


def test_grader_db_upgrade_migrates_the_configured_database(tmp_path: Path, monkeypatch):
    from grader.settings import get_settings

    db = tmp_path / "var" / "grader.db"  # its folder does not exist yet
    monkeypatch.setenv("GRADER_DATABASE_URL", f"sqlite:///{db}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "gradebook at head" in result.output
    engine = make_engine(f"sqlite:///{db}")
    assert "grading_runs" in inspect(engine).get_table_names()
    engine.dispose()
