"""`grader up` (what `make run` starts): the whole service on one machine, end to end.

Grading CW1 takes 15-40 s on a quiet machine and much longer on a loaded one: timeouts are generous.
"""

from __future__ import annotations

import json
import socket
import subprocess

import httpx
import pytest
from up_kit import GRADER, Service, wait_until

from grader.settings import REPO_ROOT

SOLUTION = REPO_ROOT / "rubrics" / "cw1" / "solution.ipynb"
AUTO_MAX = 72.0  # the auto items of rubrics/cw1/rubric.yaml (tests/cw1_submissions.py)
VISIBLE_MAX = 28.0  # its visible auto items: all of the score a student reads before release
GRADE_TIMEOUT_S = 400

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def _status(api: httpx.Client, headers: dict[str, str], sub_id: str) -> dict:
    r = api.get(f"/api/v1/submissions/{sub_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def _full_run(status: dict) -> dict:
    return next(r for r in status["runs"] if r["kind"] == "full")  # newest first; a precheck may come too


def test_up_grades_the_reference_exports_stops_and_starts_again(service: Service):
    first = service.start()
    accounts = first.accounts()
    assert {a: accounts[a].role for a in accounts} == {
        "lecturer": "lecturer",
        "gta": "gta",
        "student1": "student",
        "student2": "student",
    }
    student, lecturer = accounts["student1"], accounts["lecturer"]
    assert f"{service.url}/docs" in first.output() and "courseworks: cw1" in first.output()

    with httpx.Client(base_url=service.url, timeout=60) as api:
        assert api.get("/api/v1/health").json()["status"] == "ok"
        with SOLUTION.open("rb") as fh:
            r = api.post(
                "/api/v1/courseworks/cw1/submissions",
                headers=student.headers,
                files={"file": ("cw1.ipynb", fh, "application/x-ipynb+json")},
            )
        assert r.status_code == 201, r.text
        sub_id = r.json()["id"]
        done = wait_until(
            lambda: (s := _status(api, student.headers, sub_id))["status"] in ("graded", "error") and s,
            GRADE_TIMEOUT_S,
            "the reference to be graded",
            first.output,
        )
        assert done["status"] == "graded", done
        # Before release the student reads the visible items' score, never a total hidden items are
        # part of; staff read the full 72.
        seen = _full_run(done)
        assert seen["score"] is None and seen["max_score"] is None, done
        assert (seen["visible_score"], seen["visible_max_score"]) == (VISIBLE_MAX, VISIBLE_MAX), done
        assert _full_run(_status(api, lecturer.headers, sub_id))["score"] == AUTO_MAX
        marks = api.get("/api/v1/courseworks/cw1/marks", headers=lecturer.headers).json()
        rows = {row["external_id"]: row for row in marks["students"]}
        assert rows["demo-0001"]["auto_score"] == AUTO_MAX and rows["demo-0002"]["status"] == "no_submission"
        assert rows["demo-0001"]["late_minutes"] == 0, "demo students get an extension past the sample deadline"

        # The printed status curl works as printed.
        status_curl = first.curls()[1]
        assert status_curl.endswith("/courseworks/cw1/submissions/mine")
        mine = json.loads(
            subprocess.run(["bash", "-c", status_curl], capture_output=True, text=True, timeout=60, check=True).stdout
        )
        assert [(m["id"], m["status"]) for m in mine] == [(sub_id, "graded")]

        # `grader export` reads the same gradebook: the same bytes as the API's CSV.
        csv = api.get("/api/v1/courseworks/cw1/export.csv", headers=lecturer.headers)
        assert csv.status_code == 200
        exported = subprocess.run([GRADER, "export", "cw1"], env=service.env(), capture_output=True, timeout=120)
        assert exported.returncode == 0, exported.stderr
        assert exported.stdout == csv.content
        assert csv.content.count(b"\r\n") == 3 and b"demo-0001" in csv.content

    assert service.stop(first) == 0
    assert "stopped." in first.output()

    # A second start on the same var/: the gradebook, the submission and its marks are kept, and
    # only the new tokens work.
    second = service.start("--stop-timeout", "2")
    again = second.accounts()
    assert again["student1"].token != student.token
    with httpx.Client(base_url=service.url, timeout=60) as api:
        assert api.get(f"/api/v1/submissions/{sub_id}", headers=student.headers).status_code == 401
        kept = _status(api, again["student1"].headers, sub_id)
        assert kept["status"] == "graded" and _full_run(kept)["score"] is None
        assert _full_run(_status(api, again["lecturer"].headers, sub_id))["score"] == AUTO_MAX
        roster = api.get("/api/v1/courseworks/cw1/marks", headers=again["lecturer"].headers).json()["students"]
        assert [row["external_id"] for row in roster] == ["demo-0001", "demo-0002"]  # no duplicates

        # The printed submit curl works; stopped in the middle of grading, nothing is left behind.
        receipt = json.loads(
            subprocess.run(
                ["bash", "-c", second.curls()[0]], capture_output=True, text=True, timeout=60, check=True
            ).stdout
        )
        wait_until(
            lambda: _status(api, again["student1"].headers, receipt["id"])["status"] == "running",
            GRADE_TIMEOUT_S,
            "the second submission to be running",
            second.output,
        )
    assert service.stop(second) == 0
    assert "stopped in the middle of a job" in second.output()


def test_a_taken_port_is_a_clear_error_that_changes_nothing(service: Service):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", service.port))
        taken.listen()
        r = subprocess.run([GRADER, "up"], env=service.env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert f"port {service.port} on 127.0.0.1 is taken" in r.stderr and "Traceback" not in r.stderr
    assert not (service.var / "grader.db").exists()
