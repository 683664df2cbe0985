"""The restored service grades as before: a new submission to it is graded by a worker in the
bubblewrap sandbox against the hidden suite, beside the restored marks."""

from __future__ import annotations

import uuid

import pytest
from backup_world import cli, empty_database, notebook, running, settings_for, upload
from sqlalchemy import select

from grader.runs.models import GradingRun, RunKind, RunStatus
from workers.grade_job import grade_one


@pytest.mark.sandbox
@pytest.mark.slow  # the judge grades one (tiny) notebook
def test_a_restored_service_grades_a_new_submission(pair, tmp_path):
    with empty_database("grader_backup_grade") as url:
        target = settings_for(url, pair.source.settings.rubrics_dir, tmp_path, worker_self_test=False)
        r = cli(target, "restore", str(pair.snapshot))
        assert r.exit_code == 0, r.output
        with running(target) as service:
            r = upload(service.client, pair.world.headers["other"], notebook("return x + 1  # bob again"))
            assert r.status_code == 201, r.text
            submission = uuid.UUID(r.json()["id"])
            with service.sessions() as session:
                runs = session.execute(
                    select(GradingRun.id, GradingRun.kind).where(GradingRun.submission_id == submission)
                ).all()
            for run_id, kind in sorted(runs, key=lambda r: r.kind != RunKind.precheck):  # the pre-check first
                outcome = grade_one(
                    run_id, settings=target, wake_fn=lambda *a: None, store=service.client.app.state.blobs
                )
                assert outcome.status == "graded", (kind, outcome)
            full = next(run_id for run_id, kind in runs if kind == RunKind.full)
            with service.sessions() as session:
                run = session.get_one(GradingRun, full)
                assert run.status == RunStatus.graded and run.score == 2.0, (run.status, run.error)
            mine = service.client.get("/api/v1/courseworks/mini/marks/mine", headers=pair.world.headers["other"])
            assert mine.status_code == 200, mine.text
