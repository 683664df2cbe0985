"""When a student's data may be erased: pure date arithmetic, and the embedded (SQLite) gradebook."""

from __future__ import annotations

import datetime as dt

from backup_world import running, seed_world, settings_for
from sqlalchemy import select

from grader.db.engine import session_factory
from grader.db.migrate import upgrade
from grader.erasure.retention import RetentionPolicy, expires_at, policy
from grader.roster.models import Student

UTC = dt.UTC


def test_retention_runs_from_the_module_end_or_an_earlier_withdrawal():
    keep = RetentionPolicy(days=30)
    end = dt.datetime(2026, 6, 30, tzinfo=UTC)
    enrolled = Student(external_id="a", name="A")
    left = Student(external_id="b", name="B", withdrawn_at=dt.datetime(2026, 1, 10, tzinfo=UTC))
    assert expires_at(enrolled, end, keep) == dt.datetime(2026, 7, 30, tzinfo=UTC)
    assert expires_at(left, end, keep) == dt.datetime(2026, 2, 9, tzinfo=UTC)
    assert expires_at(enrolled, None, keep) is None  # no deadline yet: kept
    # A configured last day ends at the next midnight, UTC.
    assert policy(0, dt.date(2026, 6, 30)).module_end == dt.datetime(2026, 7, 1, tzinfo=UTC)


def test_erasure_works_on_the_embedded_sqlite_gradebook(rubrics, tmp_path):
    settings = settings_for(f"sqlite:///{tmp_path / 'grader.db'}", rubrics, tmp_path)
    upgrade(settings.database_url)
    with running(settings) as service:
        world = seed_world(service.client, session_factory(service.engine), settings)
        lecturer = world.headers["lecturer"]
        r = service.client.put("/api/v1/roster/s1/withdrawal", headers=lecturer, json={"reason": "left"})
        assert r.status_code == 200, r.text
        r = service.client.post(
            "/api/v1/roster/s1/erasure", headers=lecturer, json={"reason": "asked", "confirm": "s1"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["blobs_removed"] == 2 and r.json()["blobs_kept"] == 1
        with service.sessions() as session:
            assert session.scalars(select(Student.external_id)).all() == ["s2", "s3"]
