"""The lecturer's regrade preview page over HTTP: start a preview, read the student whose mark would
change (old, new, the difference, the item), apply it once confirmed; and the marker's page shows
the digests a run graded on."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from web_kit import TESTS, csrf_of, grade, notebook, sign_in, upload

from grader.courseworks.service import coursework_by_code
from grader.courseworks.sync import file_digest, tree_digest
from grader.grading.report import GradeReport
from grader.marking.sheet import submission_marks
from grader.runs.models import GradingRun, RunStatus
from grader.runs.service import claim_run, complete_run
from grader.scoring.auto import auto_marks
from grader.scoring.outcomes import TestOutcome, TestResult

FIXED = {**TESTS, "test_a.py::test_secret": TestResult(TestOutcome.passed, 1.0)}  # secret 1.8 -> 3 of 3


def finish_staged(sessions, rubric, suite: tuple[str, str]) -> int:
    """Complete the one staged run as a worker grading on ``suite`` would."""
    with sessions() as session:
        run_id = session.scalars(
            select(GradingRun.id).where(GradingRun.staged.is_(True), GradingRun.status == RunStatus.queued)
        ).one()
        lease = claim_run(session=session, run_id=run_id, worker_id="w1")
        report = GradeReport(
            coursework="cwa",
            status="graded",
            max_score=rubric.total_points,
            auto_max_score=rubric.auto_max_score,
            duration_s=1.0,
            marks=auto_marks(rubric, FIXED),
        )
        status = complete_run(
            session=session, lease=lease, report=report, tests=FIXED, hidden_digest=suite[0], rubric_digest=suite[1]
        )
        assert status is RunStatus.graded
        return run_id


def test_the_lecturer_previews_a_regrade_and_applies_it(client, people, sessions, cwa_rubric, web_settings):
    folder = web_settings.rubrics_dir / "cwa"
    suite = tree_digest(folder / "hidden"), file_digest(folder / "rubric.yaml")
    csrf = sign_in(client, "alice")
    reply = upload(client, csrf, notebook("x = 1"))
    assert reply.status_code == 303, reply.text
    sub_id = reply.headers["location"].rsplit("/", 1)[1]
    grade(sessions, cwa_rubric, sub_id)

    csrf = sign_in(client, "lee")
    assert 'data-testid="regrade-preview"' in client.get("/lecturer/courseworks/cwa").text
    page = client.get("/lecturer/courseworks/cwa/regrade-preview")
    assert page.status_code == 200 and 'data-testid="start-preview"' in page.text and suite[0][:12] in page.text
    started = client.post(
        "/lecturer/courseworks/cwa/regrade-preview", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert started.status_code == 303, started.text
    preview_id = int(re.search(r"preview=(\d+)", started.headers["location"])[1])
    page = client.get(started.headers["location"]).text
    assert 'data-state="waiting"' in page and 'data-testid="apply-preview"' not in page

    finish_staged(sessions, cwa_rubric, suite)
    page = client.get(started.headers["location"]).text
    row = re.search(r'<tr data-state="changed" data-student="s1">(.*?)</tr>', page, re.S)
    assert row is not None, page
    assert "4.9" in row[1] and "6.1" in row[1] and "+1.2" in row[1] and "secret 1.8 → 3" in row[1]
    assert 'name="changed" value="1"' in page

    apply_url = f"/lecturer/courseworks/cwa/regrade-preview/{preview_id}/apply"
    stale = client.post(apply_url, data={"csrf_token": csrf, "changed": "0"}, follow_redirects=False)
    assert stale.status_code == 409 and "read it again" in stale.text
    with sessions() as s:
        cw = coursework_by_code(session=s, code="cwa")
        student = people.student_ids["student"]
        assert submission_marks(session=s, rubric=cwa_rubric, coursework=cw, student_id=student).total.total == 4.9
    applied = client.post(apply_url, data={"csrf_token": csrf_of(page), "changed": "1"}, follow_redirects=False)
    assert applied.status_code == 303, applied.text
    page = client.get(applied.headers["location"]).text
    assert 'data-status="applied"' in page and 'data-testid="apply-preview"' not in page
    assert re.search(r'<tr data-state="changed" data-student="s1">.*?\+1\.2', page, re.S)  # as applied
    with sessions() as s:
        cw = coursework_by_code(session=s, code="cwa")
        assert submission_marks(session=s, rubric=cwa_rubric, coursework=cw, student_id=student).total.total == 6.1

    sign_in(client, "gina")  # the marker sees which suite graded the run that now stands
    marking = client.get(f"/staff/submissions/{uuid.UUID(sub_id)}").text
    digests = re.search(r'data-testid="run-digests">(.*?)</p>', marking, re.S)
    assert digests is not None and suite[0][:12] in digests[1] and suite[1][:12] in digests[1]
