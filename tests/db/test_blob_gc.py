"""The orphan collector (``grader.runs.blob_gc``) and ``grader blobs gc``: real blobs, real Postgres."""

from __future__ import annotations

import datetime as dt
import io
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from gradebook_factory import add_coursework, add_student
from sqlalchemy.orm import Session, sessionmaker

from grader.blobs import LocalBlobStore
from grader.cli import main
from grader.runs.blob_gc import collect_orphans
from grader.runs.service import enqueue_run
from grader.settings import get_settings
from grader.submissions.service import record_submission

DAY = 86400


def put(store: LocalBlobStore, data: bytes, age_s: float) -> str:
    key = store.put(io.BytesIO(data)).sha256
    then = time.time() - age_s
    os.utime(store.path(key), (then, then))
    return key


def stored_world(session: Session, store: LocalBlobStore) -> dict[str, str]:
    """Two days old: an orphan, a submission's blob, a run's executed notebook; and a young orphan."""
    keys = {name: put(store, name.encode(), 2 * DAY) for name in ("orphan", "submitted", "executed")}
    keys["young"] = put(store, b"young", 60)
    cw, student = add_coursework(session), add_student(session)
    session.commit()
    submission, _ = record_submission(
        session=session,
        coursework_id=cw.id,
        student_id=student.id,
        sha256=keys["submitted"],
        size_bytes=9,
        original_filename="cw.ipynb",
        blob_key=keys["submitted"],
    )
    run = enqueue_run(session=session, submission_id=submission.id)
    run.executed_notebook_key = keys["executed"]
    session.commit()
    return keys


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_only_old_unreferenced_blobs_are_collected(session: Session, store: LocalBlobStore):
    keys = stored_world(session, store)
    report = collect_orphans(store, session)  # default grace: one day
    assert report.removed == [keys["orphan"]] and report.referenced == 2 and report.young == 1
    assert sorted(store.keys()) == sorted(keys[k] for k in ("submitted", "executed", "young"))
    again = collect_orphans(store, session)
    assert again.removed == [] and again.referenced == 2


def test_the_grace_period_decides_what_is_young(session: Session, store: LocalBlobStore):
    keys = stored_world(session, store)
    report = collect_orphans(store, session, dt.timedelta(seconds=30))
    assert sorted(report.removed) == sorted([keys["orphan"], keys["young"]])
    assert set(store.keys()) == {keys["submitted"], keys["executed"]}
    with pytest.raises(ValueError):
        collect_orphans(store, session, dt.timedelta(seconds=-1))


def test_dry_run_removes_nothing(session: Session, store: LocalBlobStore):
    keys = stored_world(session, store)
    before = sorted(store.keys())
    report = collect_orphans(store, session, dry_run=True)
    assert report.removed == [keys["orphan"]] and report.dry_run
    assert sorted(store.keys()) == before


def test_the_cli(committed: sessionmaker[Session], pg_url: str, tmp_path: Path, monkeypatch):
    store = LocalBlobStore(tmp_path / "blobs")
    with committed() as session:
        keys = stored_world(session, store)
    monkeypatch.setenv("GRADER_DATABASE_URL", pg_url)
    monkeypatch.setenv("GRADER_BLOB_DIR", str(store.root))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        for bad in ("10m", "soon", "-3h", "0"):  # under the 1h minimum, or not a duration: nothing changes
            r = runner.invoke(main, ["blobs", "gc", "--older-than", bad])
            assert r.exit_code == 2 and "--older-than" in r.output, r.output
        assert len(list(store.keys())) == 4
        nowhere = {"GRADER_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:9/x"}  # nothing listens
        get_settings.cache_clear()
        r = runner.invoke(main, ["blobs", "gc"], env=nowhere)
        get_settings.cache_clear()
        assert r.exit_code == 1 and "cannot read the gradebook" in r.output, r.output  # deletes nothing blind
        assert len(list(store.keys())) == 4
        r = runner.invoke(main, ["blobs", "gc", "--dry-run"])
        assert r.exit_code == 0 and r.stdout.split() == ["would", "remove", keys["orphan"]], r.output
        assert len(list(store.keys())) == 4
        r = runner.invoke(main, ["blobs", "gc", "--older-than", "36h"])
        assert r.exit_code == 0 and r.stdout.split() == ["removed", keys["orphan"]], r.output
        assert "kept 2 referenced and 1 stored within the grace period" in r.stderr
        assert not store.exists(keys["orphan"]) and len(list(store.keys())) == 3
        r = runner.invoke(main, ["blobs", "gc", "--older-than", "3d"])  # the orphan is gone; the rest is younger
        assert r.exit_code == 0 and r.stdout == "" and "removed 0 orphaned blobs" in r.stderr
    finally:
        get_settings.cache_clear()
