"""`grader backup` and `grader restore`: a snapshot restored into a fresh Postgres database and a
fresh blob directory is the same gradebook (every table, row for row), every submission's bytes
re-hash to their receipts, and the restored service serves and takes submissions as before."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import uuid

from backup_world import cli, empty_database, notebook, running, settings_for, table_contents, upload
from sqlalchemy import create_engine, inspect, select, text

from grader.backup import RestoreRefused, SnapshotError, restore_snapshot, take_snapshot
from grader.backup.manifest import blob_path
from grader.blobs import LocalBlobStore
from grader.db.migrate import upgrade
from grader.runs.blob_gc import referenced_keys
from grader.submissions.models import Submission


def test_every_table_is_restored_row_for_row(pair):
    assert pair.restored_tables == pair.source_tables
    counts = {name: len(rows) for name, rows in pair.restored_tables.items()}
    # What the world seeded is there to compare: not an empty gradebook equal to another.
    assert counts["submissions"] == 3 and counts["run_artifacts"] == 2 and counts["mark_changes"] == 2
    assert counts["deadline_extensions"] == 1 and counts["releases"] == 1 and counts["api_tokens"] == 4
    manifest = json.loads((pair.snapshot / "manifest.json").read_text())
    assert manifest["tables"] == {**counts, "alembic_version": 1}
    with pair.restored.engine.connect() as conn:
        assert manifest["schema_revision"] == conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def test_every_submission_rehashes_to_its_receipt(pair):
    store = LocalBlobStore(pair.restored.settings.blob_dir)
    with pair.restored.sessions() as session:
        rows = session.scalars(select(Submission)).all()
        assert {str(r.id) for r in rows} == set(pair.world.receipts)
        for row in rows:
            with store.open(row.blob_key) as f:
                assert hashlib.sha256(f.read()).hexdigest() == pair.world.receipts[str(row.id)] == row.sha256
        # Every blob a row references, and nothing else, came back (the shared upload once).
        keys = set(store.keys())
        assert referenced_keys(session, keys) == keys
    manifest = json.loads((pair.snapshot / "manifest.json").read_text())
    assert set(manifest["blobs"]) == keys
    assert len(keys) == 2 + 2 + 0  # two notebooks (one shared by two students), two artifacts


def test_marks_and_their_history_are_identical(pair):
    lecturer = pair.world.headers["lecturer"]
    sub = pair.world.submissions["alice-own"]
    for path in (f"/api/v1/submissions/{sub}/marks/talk/history", f"/api/v1/submissions/{sub}/marking"):
        before = pair.source.client.get(path, headers=lecturer)
        after = pair.restored.client.get(path, headers=lecturer)
        assert before.status_code == 200, before.text
        assert after.json() == before.json()
    history = pair.restored.client.get(f"/api/v1/submissions/{sub}/marks/talk/history", headers=lecturer).json()
    assert sorted(c["new_score"] for c in history) == [0.5, 1.0]


def test_the_restored_service_serves_and_takes_submissions_as_before(pair):
    world = pair.world
    for who, path in [
        ("student", "/api/v1/courseworks/mini/submissions/mine"),
        ("student", "/api/v1/courseworks/mini/marks/mine"),
        ("other", "/api/v1/courseworks/mini/marks/mine"),
        ("lecturer", "/api/v1/courseworks/mini/export.csv"),
        ("lecturer", f"/api/v1/submissions/{world.submissions['bob-shared']}/file"),
    ]:
        before = pair.source.client.get(path, headers=world.headers[who])
        after = pair.restored.client.get(path, headers=world.headers[who])
        assert before.status_code == 200, (path, before.text)
        assert (after.status_code, after.content) == (200, before.content), path
    # A new submission: its receipt, its row and its blob, ids clear of the restored ones.
    r = upload(pair.restored.client, world.headers["student"], notebook("return x + 1  # after the restore"))
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["id"] not in world.receipts
    with pair.restored.sessions() as session:
        row = session.get(Submission, uuid.UUID(new["id"]))
        assert row is not None and row.sha256 == new["sha256"]
    assert LocalBlobStore(pair.restored.settings.blob_dir).exists(new["sha256"])
    assert pair.restored.woken, "the new submission's grading run was queued"


def test_restore_refuses_a_database_that_is_not_empty(pair, tmp_path):
    blob_dir = tmp_path / "blobs"
    target = settings_for(pair.source.settings.database_url, pair.source.settings.rubrics_dir, tmp_path)
    before = table_contents(pair.source.engine)
    r = cli(target, "restore", str(pair.snapshot))
    assert r.exit_code == 1 and "is not empty" in r.output and "fresh one" in r.output, r.output
    assert "Traceback" not in r.output
    assert table_contents(pair.source.engine) == before
    assert not blob_dir.exists() or not any(blob_dir.iterdir())


def test_restore_refuses_a_blob_directory_that_is_not_empty(pair, tmp_path):
    with empty_database("grader_backup_refused") as url:
        target = settings_for(url, pair.source.settings.rubrics_dir, tmp_path)
        LocalBlobStore(target.blob_dir).put(io.BytesIO(b"someone else's file"))
        r = cli(target, "restore", str(pair.snapshot))
        assert r.exit_code == 1 and "blob store is not empty" in r.output, r.output
        engine = create_engine(url)
        assert inspect(engine).get_table_names() == []
        engine.dispose()


def test_a_damaged_snapshot_is_refused_before_anything_is_written(pair, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(pair.snapshot, damaged)
    key = sorted(json.loads((damaged / "manifest.json").read_text())["blobs"])[0]
    path = blob_path(damaged, key)
    path.chmod(0o600)
    path.write_bytes(path.read_bytes() + b" ")
    with empty_database("grader_backup_damaged") as url:
        target = settings_for(url, pair.source.settings.rubrics_dir, tmp_path)
        r = cli(target, "restore", str(damaged))
        assert r.exit_code == 1 and "do not hash to their names" in r.output and key in r.output, r.output
        engine = create_engine(url)
        assert inspect(engine).get_table_names() == []
        engine.dispose()
        assert not target.blob_dir.exists() or not any(target.blob_dir.iterdir())
        (damaged / "manifest.json").unlink()  # an unfinished snapshot
        r = cli(target, "restore", str(damaged))
        assert r.exit_code == 1 and "never finished" in r.output, r.output


def test_backup_wants_a_new_folder_and_copies_no_orphans(pair, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    r = cli(pair.source.settings, "backup", str(tmp_path / "taken"))
    assert r.exit_code == 1 and "not an empty folder" in r.output, r.output
    # A blob no row references (an upload whose row never committed) is not part of the gradebook.
    orphan = LocalBlobStore(pair.source.settings.blob_dir).put(io.BytesIO(b"an orphan")).sha256
    manifest = take_snapshot(
        pair.source.settings.database_url, LocalBlobStore(pair.source.settings.blob_dir), tmp_path / "again"
    )
    assert orphan not in manifest.blobs
    assert set(manifest.blobs) == set(json.loads((pair.snapshot / "manifest.json").read_text())["blobs"])


def test_a_sqlite_gradebook_round_trips(pair, tmp_path):
    source = settings_for(f"sqlite:///{tmp_path / 'a' / 'grader.db'}", pair.source.settings.rubrics_dir, tmp_path / "a")
    upgrade(source.database_url)
    with running(source) as service:
        from backup_world import seed_world

        from grader.db.engine import session_factory

        seed_world(service.client, session_factory(service.engine), source)
        manifest = take_snapshot(source.database_url, LocalBlobStore(source.blob_dir), tmp_path / "snap")
        before = table_contents(service.engine)
    assert manifest.backend == "sqlite" and len(manifest.blobs) == 4
    target = settings_for(f"sqlite:///{tmp_path / 'b' / 'grader.db'}", source.rubrics_dir, tmp_path / "b")
    restore_snapshot(tmp_path / "snap", target.database_url, LocalBlobStore(target.blob_dir))
    engine = create_engine(target.database_url)
    assert table_contents(engine) == before
    engine.dispose()
    assert (tmp_path / "b" / "grader.db").stat().st_mode & 0o077 == 0
    try:  # the second time, the file is not empty
        restore_snapshot(tmp_path / "snap", target.database_url, LocalBlobStore(tmp_path / "c"))
        raise AssertionError("restored over a gradebook")
    except RestoreRefused as exc:
        assert "not empty" in str(exc)
    try:  # a Postgres snapshot into SQLite
        restore_snapshot(pair.snapshot, f"sqlite:///{tmp_path / 'd.db'}", LocalBlobStore(tmp_path / "d"))
        raise AssertionError("restored across backends")
    except SnapshotError as exc:
        assert "postgresql" in str(exc)


def test_a_snapshot_from_a_newer_version_is_refused(pair, tmp_path):
    newer = tmp_path / "newer"
    shutil.copytree(pair.snapshot, newer)
    manifest = json.loads((newer / "manifest.json").read_text())
    (newer / "manifest.json").write_text(json.dumps({**manifest, "schema_revision": "0999_from_the_future"}))
    with empty_database("grader_backup_newer") as url:
        r = cli(settings_for(url, pair.source.settings.rubrics_dir, tmp_path), "restore", str(newer))
        assert r.exit_code == 1 and "0999_from_the_future" in r.output and "does not know" in r.output, r.output
