"""A run that fell back to another queue, as the API shows it: the student's status says where it
went and why, and the run carries the note markers read."""

from __future__ import annotations

import datetime as dt

from api_kit import notebook, upload
from sqlalchemy import select, update

from grader.runs.fallback import FallbackRule, fall_back
from grader.runs.models import GradingRun, RunKind
from grader.runs.registry import announce
from grader.submissions.models import Submission


def test_the_student_and_the_marker_see_that_a_gpu_run_moved_to_cpu(client, people, sessions):
    sid = upload(client, people.headers["student"], notebook("a = 1")).json()["id"]
    with sessions() as s:
        # The coursework's runs wait on a GPU queue nobody serves; a CPU worker is live.
        run = s.scalars(
            select(GradingRun).where(GradingRun.submission_id == sid, GradingRun.kind == RunKind.full)
        ).one()
        waited = run.enqueued_at - dt.timedelta(minutes=20)
        s.execute(update(GradingRun).where(GradingRun.id == run.id).values(queue="gpu", enqueued_at=waited))
        s.commit()
        announce(session=s, name="w1@h1", host="h1", pid=1, queues=["cpu", "precheck"], concurrency=1)
        coursework_id = s.scalar(select(Submission.coursework_id).where(Submission.id == run.submission_id))
        moved = fall_back(session=s, rules=[FallbackRule(coursework_id, "gpu", "cpu", 15 * 60)])
        assert [m.run_id for m in moved] == [run.id]

    mine = client.get(f"/api/v1/submissions/{sid}", headers=people.headers["student"]).json()
    assert mine["queue"]["message"] == (
        "no GPU worker was available, so it moved to the CPU workers; queued: 1st in line"
    )
    (full,) = [r for r in mine["runs"] if r["kind"] == "full"]
    assert full["queue"] == "cpu"
    assert full["note"] == (
        "no GPU worker was available, so this run moved to the CPU workers and is graded without a GPU, under the CPU limits"
    )
    staff = client.get(f"/api/v1/submissions/{sid}", headers=people.headers["lecturer"]).json()
    assert [r["note"] for r in staff["runs"] if r["kind"] == "full"] == [full["note"]]
    # A run that never moved carries no note.
    assert all(r["note"] is None for r in mine["runs"] if r["kind"] == "precheck")
