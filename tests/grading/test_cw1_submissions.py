"""Each CW1 sample submission, written the way real ones are, gets exactly the marks it must."""

import json
import subprocess
import sys

import pytest
from cw1_submissions import SUBMISSIONS

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]  # grades whole notebooks


@pytest.mark.parametrize("name", sorted(SUBMISSIONS))
def test_submission_gets_its_expected_marks(name, cw1, settings, graded_cw1):
    expected = SUBMISSIONS[name][1]
    report = graded_cw1(name, cw1, settings)  # graded once per run, shared (tests/hostile grades the same base)
    assert report.status == "graded", report.error
    items = {i.id: i for i in report.marks.items}
    detail = {i.id: (i.score, i.status.value, i.message) for i in report.marks.items if i.score < i.max_score}
    assert expected.accepts(report.score), f"{name}: {report.score} ({expected.why}); short: {detail}"
    for item_id, status in expected.items.items():
        assert items[item_id].status.value in status.split("|"), (item_id, items[item_id])
    for item_id, score in expected.item_scores.items():
        assert items[item_id].score == pytest.approx(score, abs=0.01), (item_id, items[item_id])
    applied = sorted(p.id for p in report.marks.penalties if p.applied)
    assert applied == sorted(expected.penalties)


def test_reference_through_the_cli_prints_the_documented_json(cw1):
    proc = subprocess.run(
        [sys.executable, "-m", "grader.cli", "grade", str(cw1.solution), "--coursework", "cw1", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for key in (
        "status",
        "coursework",
        "score",
        "max_score",
        "auto_max_score",
        "items",
        "penalties",
        "error",
        "error_kind",
        "duration_s",
    ):
        assert key in result
    assert result["status"] == "graded" and result["error"] is None and result["error_kind"] is None
    assert result["score"] == result["auto_max_score"] == 72 and result["max_score"] == 100
    statuses = {i["status"] for i in result["items"]}
    assert statuses == {"passed", "manual"}
    assert {"id", "score", "max_score", "status", "message", "visibility"} <= set(result["items"][0])
    assert result["execution"]["mode"] == "full"
