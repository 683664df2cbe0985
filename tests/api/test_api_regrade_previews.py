"""A hidden test fixed mid-term, over the API: every run records the suite's and the rubric's digests
(markers see them, students never); the lecturer previews a regrade on the fixed suite, reads who
would change and by how much while nothing anyone else sees changes, then applies it (or finds it
stale when the suite moved again). Runs are completed as a worker would, not graded."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from api_kit import notebook, upload
from click.testing import CliRunner
from sqlalchemy import select

from grader.cli import main
from grader.courseworks.sync import file_digest, tree_digest
from grader.grading.report import GradeReport
from grader.rubrics.loader import load_coursework
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.runs.service import claim_run, complete_run
from grader.scoring.auto import auto_marks
from grader.scoring.outcomes import TestOutcome, TestResult
from grader.settings import get_settings
from grader.webhooks.models import WebhookDelivery

BUGGY = {  # shown 2/5, later 0/5, secret 3/5: the buggy hidden test gives secret 0.6
    "test_a.py::test_shown": TestResult(TestOutcome.failed, 0.4, "shape (3, 3) expected, got (3, 4)"),
    "test_a.py::test_later": TestResult(TestOutcome.failed, 0.0, "later: wrong values"),
    "test_a.py::test_secret": TestResult(TestOutcome.failed, 0.6, "secret: hidden expected [1, 2]"),
}
FIXED = {**BUGGY, "test_a.py::test_secret": TestResult(TestOutcome.passed, 1.0)}  # secret 5/5 once fixed
PREVIEWS = "/api/v1/courseworks/cwa/regrade-previews"
RUBRIC = """\
coursework: cwa
title: "CW A: a test coursework"
version: "1"
weight: 0.4
total_points: 20
deadline: 2099-01-15T12:00:00
timezone: Europe/London
late_policy: {grace_minutes: 0, per_day_fraction: 0.1, max_days: 7}
submission: {notebook: cwa.ipynb, max_mb: 1}
mode: full
resources: {queue: cpu}
parts:
  - {id: p1, title: "Part 1", points: 20}
items:
  - {id: shown, part: p1, title: "Shown item", points: 5, auto: {tests: ["test_a.py::test_shown"]}, visibility: visible}
  - {id: later, part: p1, title: "Later item", points: 5, auto: {tests: ["test_a.py::test_later"]}, visibility: after_release}
  - {id: secret, part: p1, title: "Secret item", points: 5, auto: {tests: ["test_a.py::test_secret"]}, visibility: hidden}
  - {id: essay, part: p1, title: "Essay", points: 5, manual: true, visibility: visible}
"""


@pytest.fixture
def rubrics_dir(tmp_path: Path) -> Path:
    """A rubric folder of this test's own: the tests change its hidden suite."""
    root = tmp_path / "rubrics"
    (root / "cwa" / "hidden").mkdir(parents=True)
    (root / "cwa" / "rubric.yaml").write_text(RUBRIC)
    (root / "cwa" / "hidden" / "test_a.py").write_text("def test_secret():\n    assert 0.6\n")
    return root


def digests(rubrics_dir: Path) -> tuple[str, str]:
    return tree_digest(rubrics_dir / "cwa" / "hidden"), file_digest(rubrics_dir / "cwa" / "rubric.yaml")


def finish(sessions, settings, run_id: int, tests, suite: tuple[str, str]) -> None:
    """Complete a queued run as a worker would, with these results, recording the digests it graded on."""
    rubric = load_coursework("cwa", settings).rubric
    with sessions() as session:
        lease = claim_run(session=session, run_id=run_id, worker_id="w1")
        assert lease is not None
        report = GradeReport(
            coursework="cwa",
            status="graded",
            max_score=rubric.total_points,
            auto_max_score=rubric.auto_max_score,
            duration_s=1.0,
            marks=auto_marks(rubric, tests),
        )
        status = complete_run(
            session=session, lease=lease, report=report, tests=tests, hidden_digest=suite[0], rubric_digest=suite[1]
        )
        assert status is RunStatus.graded


def queued_full_runs(sessions, *, staged: bool) -> dict[uuid.UUID, int]:
    with sessions() as session:
        rows = session.execute(
            select(GradingRun.submission_id, GradingRun.id).where(
                GradingRun.kind == RunKind.full, GradingRun.status == RunStatus.queued, GradingRun.staged.is_(staged)
            )
        ).all()
    return {sub_id: run_id for sub_id, run_id in rows}


def deliveries(sessions) -> list[int]:
    """The run ids of the webhook events written so far."""
    with sessions() as session:
        return [d.payload["data"]["run_id"] for d in session.scalars(select(WebhookDelivery))]


@pytest.fixture
def graded(client, people, settings, sessions, rubrics_dir):
    """alice (s1) and bob (s2) submitted and graded on the buggy suite; the marks released."""
    subs = {
        who: upload(client, people.headers[who], notebook(f"x = '{who}'")).json()["id"] for who in ("student", "other")
    }
    for run_id in queued_full_runs(sessions, staged=False).values():
        finish(sessions, settings, run_id, BUGGY, digests(rubrics_dir))
    assert (
        client.post("/api/v1/courseworks/cwa/release", json={}, headers=people.headers["lecturer"]).status_code == 200
    )
    return subs


def my_total(client, people) -> float:
    mine = client.get("/api/v1/courseworks/cwa/marks/mine", headers=people.headers["student"])
    assert mine.status_code == 200, mine.text
    return mine.json()["total"]


def test_markers_see_the_digests_a_run_graded_on_and_students_never(client, people, graded, rubrics_dir):
    hidden, rubric = digests(rubrics_dir)
    view = client.get(f"/api/v1/submissions/{graded['student']}/marking", headers=people.headers["gta"])
    assert view.status_code == 200, view.text
    assert (view.json()["run"]["hidden_digest"], view.json()["run"]["rubric_digest"]) == (hidden, rubric)
    for url in (f"/api/v1/submissions/{graded['student']}", "/api/v1/courseworks/cwa/marks/mine"):
        reply = client.get(url, headers=people.headers["student"])
        assert reply.status_code == 200 and hidden not in reply.text and rubric not in reply.text


def test_a_preview_on_the_fixed_suite_changes_nothing_until_the_lecturer_applies_it(
    client, people, settings, sessions, graded, rubrics_dir
):
    lecturer, student = people.headers["lecturer"], people.headers["student"]
    old_suite = digests(rubrics_dir)
    (rubrics_dir / "cwa" / "hidden" / "test_a.py").write_text("def test_secret():\n    assert 1.0\n")  # the fix
    fixed_suite = digests(rubrics_dir)
    assert fixed_suite[0] != old_suite[0]

    hook = client.post(
        "/api/v1/webhooks",
        headers=lecturer,
        json={"url": "https://cate.example.ac.uk/hooks", "events": ["submission.graded"]},
    )
    assert hook.status_code == 201, hook.text
    for who in ("gta", "student", "service"):
        assert client.post(PREVIEWS, headers=people.headers[who]).status_code == 403
    started = client.post(PREVIEWS, headers=lecturer)
    assert started.status_code == 201, started.text
    preview = started.json()
    assert preview["status"] == "pending" and preview["hidden_digest"] == fixed_suite[0]
    again = client.post(PREVIEWS, headers=lecturer)
    assert again.status_code == 409 and "still pending" in again.json()["detail"]

    staged = queued_full_runs(sessions, staged=True)
    assert set(staged) == {uuid.UUID(s) for s in graded.values()}
    waiting = client.get(f"{PREVIEWS}/{preview['id']}", headers=lecturer).json()
    assert waiting["counts"] == {"waiting": 2} and waiting["changed"] == []
    too_soon = client.post(f"{PREVIEWS}/{preview['id']}/apply", json={"changed": 0}, headers=lecturer)
    assert too_soon.status_code == 409 and "not finished" in too_soon.json()["detail"]

    for run_id in staged.values():
        finish(sessions, settings, run_id, FIXED, fixed_suite)
    # Graded, and still nobody else sees it: the student's total and run list, the marker's view, the export.
    assert my_total(client, people) == 5.0
    sub_view = client.get(f"/api/v1/submissions/{graded['student']}", headers=student).json()
    assert staged[uuid.UUID(graded["student"])] not in [r["id"] for r in sub_view["runs"]]
    marking = client.get(f"/api/v1/submissions/{graded['student']}/marking", headers=people.headers["gta"]).json()
    assert marking["run"]["hidden_digest"] == old_suite[0] and marking["total"]["total"] == 5.0
    export_before = client.get("/api/v1/courseworks/cwa/export.csv", headers=lecturer).text
    assert deliveries(sessions) == []  # a staged run tells the course systems nothing
    artifact = f"/api/v1/submissions/{graded['student']}/runs/{staged[uuid.UUID(graded['student'])]}/artifacts"
    assert client.get(artifact, headers=student).status_code == 404

    report = client.get(f"{PREVIEWS}/{preview['id']}", headers=lecturer).json()
    assert report["counts"] == {"changed": 2} and not report["stale"]
    alice = next(r for r in report["changed"] if r["external_id"] == "s1")
    assert (alice["old_total"], alice["new_total"], alice["delta"]) == (5.0, 7.0, 2.0)
    assert alice["items"] == [{"id": "secret", "kind": "item", "old": 3.0, "new": 5.0, "delta": 2.0}]

    stale_read = client.post(f"{PREVIEWS}/{preview['id']}/apply", json={"changed": 1}, headers=lecturer)
    assert stale_read.status_code == 409 and "read it again" in stale_read.json()["detail"]
    assert client.get("/api/v1/courseworks/cwa/export.csv", headers=lecturer).text == export_before
    assert (
        client.post(f"{PREVIEWS}/{preview['id']}/apply", json={"changed": 2}, headers=people.headers["gta"]).status_code
        == 403
    )

    applied = client.post(f"{PREVIEWS}/{preview['id']}/apply", json={"changed": 2}, headers=lecturer)
    assert applied.status_code == 200, applied.text
    assert applied.json()["status"] == "applied"
    assert sorted(deliveries(sessions)) == sorted(staged.values())  # each applied run: submission.graded
    assert my_total(client, people) == 7.0
    runs = client.get(f"/api/v1/submissions/{graded['student']}", headers=lecturer).json()["runs"]
    full = [(r["id"], r["score"]) for r in runs if r["kind"] == "full"]  # newest first
    assert full[0] == (staged[uuid.UUID(graded["student"])], 7.0) and full[1][1] == 5.0  # the old run kept
    marking = client.get(f"/api/v1/submissions/{graded['student']}/marking", headers=people.headers["gta"]).json()
    assert marking["run"]["hidden_digest"] == fixed_suite[0]
    assert client.get("/api/v1/courseworks/cwa/export.csv", headers=lecturer).text != export_before

    after = client.get(f"{PREVIEWS}/{preview['id']}", headers=lecturer).json()  # the changes as applied
    assert after["status"] == "applied" and after["counts"] == {"changed": 2}
    assert next(r for r in after["changed"] if r["external_id"] == "s1")["items"] == alice["items"]
    assert client.post(f"{PREVIEWS}/{preview['id']}/apply", json={"changed": 2}, headers=lecturer).status_code == 409
    assert client.post(f"{PREVIEWS}/{preview['id']}/discard", headers=lecturer).status_code == 409
    assert client.get(f"{PREVIEWS}/999", headers=lecturer).status_code == 404
    listed = client.get(PREVIEWS, headers=lecturer).json()
    assert [(p["id"], p["status"]) for p in listed] == [(preview["id"], "applied")]


def test_a_preview_made_on_an_older_suite_cannot_be_applied_and_can_be_discarded(
    client, people, settings, sessions, graded, rubrics_dir
):
    lecturer = people.headers["lecturer"]
    (rubrics_dir / "cwa" / "hidden" / "test_a.py").write_text("def test_secret():\n    assert 1.0\n")
    preview = client.post(PREVIEWS, headers=lecturer).json()
    for run_id in queued_full_runs(sessions, staged=True).values():
        finish(sessions, settings, run_id, FIXED, digests(rubrics_dir))
    (rubrics_dir / "cwa" / "hidden" / "test_a.py").write_text("def test_secret():\n    assert 0.9\n")  # fixed again
    report = client.get(f"{PREVIEWS}/{preview['id']}", headers=lecturer).json()
    assert report["stale"] and report["current_hidden_digest"] != report["hidden_digest"]
    refused = client.post(f"{PREVIEWS}/{preview['id']}/apply", json={"changed": 2}, headers=lecturer)
    assert refused.status_code == 409 and "changed since this preview was made" in refused.json()["detail"]
    assert my_total(client, people) == 5.0
    discarded = client.post(f"{PREVIEWS}/{preview['id']}/discard", headers=lecturer)
    assert discarded.status_code == 200 and discarded.json()["status"] == "discarded"
    assert client.post(PREVIEWS, headers=lecturer).status_code == 201  # a new one, on the suite as it is now


@pytest.fixture
def cli_env(monkeypatch, api_pg_url, settings, tmp_path):
    monkeypatch.setenv("GRADER_DATABASE_URL", api_pg_url)
    monkeypatch.setenv("GRADER_RUBRICS_DIR", str(settings.rubrics_dir))
    monkeypatch.setenv("GRADER_BROKER_URL", "filesystem://")
    monkeypatch.setenv("GRADER_BROKER_DIR", str(tmp_path / "cli-broker"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_cli_starts_shows_and_applies_a_preview(client, people, settings, sessions, graded, rubrics_dir, cli_env):
    (rubrics_dir / "cwa" / "hidden" / "test_a.py").write_text("def test_secret():\n    assert 1.0\n")
    refused = CliRunner().invoke(main, ["regrade-preview", "start", "cwa", "--as", "gina"])
    assert refused.exit_code == 2 and "not a lecturer" in refused.output
    refused = CliRunner().invoke(main, ["regrade-preview", "start", "cwa", "--by", "gina"])  # --as's new name
    assert refused.exit_code == 2 and "not a lecturer" in refused.output
    started = CliRunner().invoke(main, ["regrade-preview", "start", "cwa", "--as", "lee"])
    assert started.exit_code == 0, started.output
    preview_id = started.output.split()[1]
    for run_id in queued_full_runs(sessions, staged=True).values():
        finish(sessions, settings, run_id, FIXED, digests(rubrics_dir))
    shown = CliRunner().invoke(main, ["regrade-preview", "show", "cwa"])
    assert shown.exit_code == 0, shown.output
    assert "2 changed" in shown.output and "s1: 5 -> 7 (+2) secret 3->5" in shown.output
    wrong = CliRunner().invoke(main, ["regrade-preview", "apply", "cwa", preview_id, "--changed", "1", "--as", "lee"])
    assert wrong.exit_code == 1 and "show it again" in wrong.output
    assert my_total(client, people) == 5.0
    applied = CliRunner().invoke(main, ["regrade-preview", "apply", "cwa", preview_id, "--changed", "2", "--as", "lee"])
    assert applied.exit_code == 0 and "2 students' marks changed" in applied.output, applied.output
    assert my_total(client, people) == 7.0
