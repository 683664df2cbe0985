"""A new upload queues a pre-check ahead of full grading; the submission's read shows the
pre-check's verdict for the student, while ``status`` stays the full run's and marks ignore it."""

from __future__ import annotations

import uuid

from api_kit import grade, notebook, upload
from sqlalchemy import func, select

from grader.rubrics.loader import load_coursework
from grader.runs.models import GradingRun, RunItemScore, RunKind
from grader.runs.service import claim_next_run, claim_run, complete_precheck, fail_run


def runs_by_kind(sessions, submission_id: str) -> dict[RunKind, GradingRun]:
    with sessions() as s:
        rows = s.scalars(select(GradingRun).where(GradingRun.submission_id == uuid.UUID(submission_id))).all()
        s.expunge_all()
    return {r.kind: r for r in rows}


def read(client, people, submission_id: str) -> dict:
    r = client.get(f"/api/v1/submissions/{submission_id}", headers=people.headers["student"])
    assert r.status_code == 200, r.text
    return r.json()


def precheck_verdict(sessions, run_id: int, passed: bool, messages: list[str]) -> None:
    """What a worker writes when its pre-check finishes."""
    with sessions() as s:
        lease = claim_run(session=s, run_id=run_id, worker_id="test-worker")
        assert lease is not None and lease.kind is RunKind.precheck
        assert complete_precheck(
            session=s,
            lease=lease,
            passed=passed,
            messages=messages,
            details={"precheck": {"passed": passed, "messages": messages}},
            duration_s=1.5,
        )


def test_an_upload_queues_a_precheck_that_is_woken_and_claimed_first(client, people, sessions, woken):
    sub = upload(client, people.headers["student"], notebook()).json()
    runs = runs_by_kind(sessions, sub["id"])
    check, full = runs[RunKind.precheck], runs[RunKind.full]
    assert (check.queue, check.priority, full.queue, full.priority) == ("precheck", 0, "cpu", 1)
    assert check.enqueued_at <= full.enqueued_at
    assert woken == [(check.id, "precheck"), (full.id, "cpu")]
    body = read(client, people, sub["id"])
    assert body["status"] == "queued" and body["precheck"] == {"status": "queued", "messages": []}
    assert sorted(r["kind"] for r in body["runs"]) == ["full", "precheck"]
    with sessions() as s:
        first = claim_next_run(session=s, worker_id="w", queues=["precheck", "cpu"])
    assert first.run_id == check.id
    body = read(client, people, sub["id"])
    assert body["status"] == "queued" and body["precheck"]["status"] == "running"


def test_a_passed_precheck_is_shown_but_never_counts_as_the_graded_run(client, people, settings, sessions):
    sub = upload(client, people.headers["student"], notebook()).json()
    check = runs_by_kind(sessions, sub["id"])[RunKind.precheck]
    messages = ["received cwa.ipynb: named as the rubric asks, and the notebook is valid."]
    precheck_verdict(sessions, check.id, True, messages)
    body = read(client, people, sub["id"])
    assert body["precheck"] == {"status": "passed", "messages": messages}
    assert body["status"] == "queued"  # the full run's
    graded_check = runs_by_kind(sessions, sub["id"])[RunKind.precheck]
    assert graded_check.status.value == "graded" and graded_check.score is None
    with sessions() as s:
        assert s.scalar(select(func.count(RunItemScore.id)).where(RunItemScore.run_id == check.id)) == 0
    mine = client.get("/api/v1/courseworks/cwa/marks/mine", headers=people.headers["student"]).json()
    assert mine["status"] == "pending"  # no graded full run yet: the pre-check is not one
    assert mine["items"] == [{"id": "shown", "title": "Shown item"}, {"id": "later", "title": "Later item"}]
    # Once the full run is graded, it is what the submission's status and marks show.
    grade(sessions, load_coursework("cwa", settings).rubric, sub["id"])
    assert read(client, people, sub["id"])["status"] == "graded"
    mine = client.get("/api/v1/courseworks/cwa/marks/mine", headers=people.headers["student"]).json()
    assert mine["status"] == "graded" and mine["items"][0]["score"] == 2.0


def test_a_failed_precheck_shows_its_reasons_and_full_grading_still_runs(client, people, sessions):
    sub = upload(client, people.headers["student"], notebook()).json()
    check = runs_by_kind(sessions, sub["id"])[RunKind.precheck]
    messages = [
        "received cwa.ipynb: named as the rubric asks, and the notebook is valid.",
        "model.pt does not load: it is not a file of tensors that loads safely.",
    ]
    precheck_verdict(sessions, check.id, False, messages)
    body = read(client, people, sub["id"])
    assert body["precheck"] == {"status": "failed", "messages": messages}
    assert body["status"] == "queued"
    failed = runs_by_kind(sessions, sub["id"])[RunKind.precheck]
    assert failed.error_kind == "submission" and "model.pt does not load" in failed.error


def test_a_precheck_that_failed_on_our_side_tells_the_student_nothing_of_ours(client, people, sessions):
    sub = upload(client, people.headers["student"], notebook()).json()
    check = runs_by_kind(sessions, sub["id"])[RunKind.precheck]
    with sessions() as s:
        lease = claim_run(session=s, run_id=check.id, worker_id="test-worker")
        fail_run(session=s, lease=lease, error="SandboxError: /var/tmp/grader-jobs is not reachable", max_attempts=1)
    body = read(client, people, sub["id"])
    assert body["precheck"]["status"] == "error"
    assert body["precheck"]["messages"] == ["the quick pre-check could not run; full grading is not affected."]
    assert body["status"] == "queued"


def test_a_regrade_queues_no_new_precheck(client, people, settings, sessions, woken):
    sub = upload(client, people.headers["student"], notebook()).json()
    grade(sessions, load_coursework("cwa", settings).rubric, sub["id"])
    r = client.post(f"/api/v1/submissions/{sub['id']}/regrade", headers=people.headers["gta"])
    assert r.status_code == 202, r.text
    assert woken[-1] == (r.json()["run"]["id"], "cpu") and len(woken) == 3
    kinds = sorted(run["kind"] for run in read(client, people, sub["id"])["runs"])
    assert kinds == ["full", "full", "precheck"]
