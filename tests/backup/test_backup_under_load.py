"""A backup taken while students upload: every row in the snapshot has its blob in the snapshot
(the dump first, then what it references), whatever the uploads did meanwhile."""

from __future__ import annotations

import threading

from backup_world import empty_database, notebook, running, seed_world, settings_for, upload
from pg_database import migrated_database
from sqlalchemy import select

from grader.backup import restore_snapshot, take_snapshot
from grader.blobs import LocalBlobStore
from grader.db.engine import make_engine, session_factory
from grader.submissions.models import Submission


def test_a_snapshot_taken_during_uploads_is_whole(rubrics, tmp_path):
    with migrated_database("grader_backup_busy", "the backup tests") as url:
        settings = settings_for(url, rubrics, tmp_path / "busy", submissions_per_hour=1000)
        with running(settings) as service:
            world = seed_world(service.client, session_factory(service.engine), settings)
            stop, receipts = threading.Event(), []

            def uploads() -> None:
                n = 0
                while not stop.is_set() and n < 200:
                    n += 1
                    r = upload(service.client, world.headers["other"], notebook(f"return x + 1  # {n}"))
                    assert r.status_code == 201, r.text
                    receipts.append(r.json()["id"])

            busy = threading.Thread(target=uploads)
            busy.start()
            try:
                while len(receipts) < 3:  # uploads under way before the snapshot starts
                    threading.Event().wait(0.05)
                manifest = take_snapshot(url, LocalBlobStore(settings.blob_dir), tmp_path / "snap")
            finally:
                stop.set()
                busy.join()
        assert manifest.tables["submissions"] >= 3 + 3
        with empty_database("grader_backup_busy_dst") as dst:
            restore_snapshot(tmp_path / "snap", dst, LocalBlobStore(tmp_path / "restored"))
            engine = make_engine(dst)
            with session_factory(engine)() as session:
                keys = session.scalars(select(Submission.blob_key)).all()
            engine.dispose()
        store = LocalBlobStore(tmp_path / "restored")
        assert len(keys) == manifest.tables["submissions"] and all(store.exists(k) for k in keys)
