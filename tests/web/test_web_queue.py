"""The queue on the dashboard: a student's own place or "waiting for a CPU worker", a superseded
submission said so, and the lecturer's queue panel with "grade it" for a superseded run."""

from __future__ import annotations

import uuid

from web_kit import csrf_of, notebook, sign_in, upload

from grader.runs.fair_queue import RAISED
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.runs.registry import announce


def _submit(client, csrf: str, text: str) -> str:
    reply = upload(client, csrf, notebook(text))
    assert reply.status_code == 303, reply.text
    return reply.headers["location"].rsplit("/", 1)[1]


def full_run(sessions, sub_id: str) -> GradingRun:
    with sessions() as s:
        return s.query(GradingRun).filter_by(submission_id=uuid.UUID(sub_id), kind=RunKind.full).one()


def test_the_student_reads_their_place_and_the_lecturer_can_grade_a_superseded_one(client, people, sessions):
    csrf = sign_in(client, "alice")
    first, second = _submit(client, csrf, "a = 1"), _submit(client, csrf, "a = 2")
    page = client.get(f"/submissions/{first}").text
    assert 'data-testid="status">superseded<' in page and "A newer submission of yours replaced this one" in page
    assert 'data-testid="queue">waiting for a CPU worker<' in client.get(f"/submissions/{second}").text
    with sessions() as s:
        announce(session=s, name="w1@h1", host="h1", pid=1, queues=["cpu", "precheck"], concurrency=1)
    assert 'data-testid="queue">queued: 1st in line<' in client.get(f"/submissions/{second}/status").json()["html"]

    client.cookies.clear()
    csrf = sign_in(client, "lee")
    panel = client.get("/lecturer/courseworks/cwa")
    assert panel.status_code == 200 and 'data-testid="waiting"' in panel.text and ">Grade it<" in panel.text
    reply = client.post(
        f"/lecturer/submissions/{first}/priority", data={"csrf_token": csrf_of(panel.text)}, follow_redirects=False
    )
    assert reply.status_code == 303
    run = full_run(sessions, first)
    assert run.status is RunStatus.queued and run.priority == RAISED


def test_the_lecturer_sees_a_queue_with_work_and_no_worker(client, people):
    csrf = sign_in(client, "alice")
    _submit(client, csrf, "a = 1")
    client.cookies.clear()
    sign_in(client, "lee")
    assert 'data-testid="stranded"' in client.get("/lecturer/courseworks/cwa").text
