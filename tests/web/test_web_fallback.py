"""A run that fell back to another queue on the dashboard: the student's status says where it went
and why; the lecturer's queue panel marks it."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update
from web_kit import notebook, sign_in, upload

from grader.runs.fallback import FallbackRule, fall_back
from grader.runs.models import GradingRun, RunKind
from grader.runs.registry import announce
from grader.submissions.models import Submission


def test_the_student_and_the_lecturer_see_a_run_that_moved_to_cpu(client, people, sessions):
    csrf = sign_in(client, "alice")
    reply = upload(client, csrf, notebook("a = 1"))
    assert reply.status_code == 303, reply.text
    sub_id = uuid.UUID(reply.headers["location"].rsplit("/", 1)[1])
    with sessions() as s:
        run = s.scalars(
            select(GradingRun).where(GradingRun.submission_id == sub_id, GradingRun.kind == RunKind.full)
        ).one()
        waited = run.enqueued_at - dt.timedelta(minutes=20)
        s.execute(update(GradingRun).where(GradingRun.id == run.id).values(queue="gpu", enqueued_at=waited))
        s.commit()
        announce(session=s, name="w1@h1", host="h1", pid=1, queues=["cpu", "precheck"], concurrency=1)
        cw_id = s.scalar(select(Submission.coursework_id).where(Submission.id == sub_id))
        assert len(fall_back(session=s, rules=[FallbackRule(cw_id, "gpu", "cpu", 600)])) == 1

    status = client.get(f"/submissions/{sub_id}/status").json()["html"]
    assert 'data-testid="queue">no GPU worker was available, so it moved to the CPU workers; queued: 1st in line<' in (
        status
    )
    client.cookies.clear()
    sign_in(client, "lee")
    panel = client.get("/lecturer/courseworks/cwa").text
    assert 'data-testid="fell-back">moved from gpu to cpu: no gpu worker<' in panel
