"""Uploading: receipts, what is stored, what is refused, idempotency, the rate limit, downloads."""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

import pytest
from api_kit import notebook, upload, zipped
from sqlalchemy import func, select

from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.submissions.models import Submission


def blobs_on_disk(settings) -> list[Path]:
    root = settings.blob_dir
    return [p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts] if root.exists() else []


def count_rows(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count(Submission.id)))


def test_upload_gives_a_receipt_stores_the_blob_and_queues_a_run(client, people, settings, sessions, woken):
    data = notebook()
    r = upload(client, people.headers["student"], data)
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert receipt["sha256"] == hashlib.sha256(data).hexdigest()
    assert receipt["size_bytes"] == len(data)
    assert receipt["coursework"] == "cwa"
    assert receipt["late"] is False and receipt["late_minutes"] == 0
    assert receipt["original_filename"] == "cwa.ipynb"
    # The blob is on disk under its sha256, holding exactly the bytes sent.
    blob = settings.blob_dir / receipt["sha256"][:2] / receipt["sha256"]
    assert blob.read_bytes() == data
    with sessions() as s:
        sub = s.get(Submission, uuid.UUID(receipt["id"]))
        assert sub is not None and sub.student_id == people.student_ids["student"]
        assert sub.blob_key == receipt["sha256"]
        check, run = s.scalars(
            select(GradingRun).where(GradingRun.submission_id == sub.id).order_by(GradingRun.id)
        ).all()
        assert check.kind is RunKind.precheck and check.queue == "precheck"
        assert run.kind is RunKind.full and run.status is RunStatus.queued and run.queue == "cpu"
    assert woken == [(check.id, "precheck"), (run.id, "cpu")]
    status = client.get(f"/api/v1/submissions/{receipt['id']}", headers=people.headers["student"]).json()
    assert status["status"] == "queued" and status["sha256"] == receipt["sha256"]


def test_service_submits_for_a_student_with_its_received_time(client, people, sessions):
    headers = {**people.headers["service"], "X-Received-At": "2026-01-01T10:00:00+00:00"}
    r = upload(client, headers, notebook("x = 1"))
    assert r.status_code == 201, r.text
    assert r.json()["stated_received_at"].startswith("2026-01-01T10:00:00")
    with sessions() as s:
        sub = s.get(Submission, uuid.UUID(r.json()["id"]))
        assert sub.student_id == people.student_ids["student"]


def test_service_without_on_behalf_of_is_refused(client, people):
    headers = {k: v for k, v in people.headers["service"].items() if k != "X-On-Behalf-Of"}
    r = upload(client, headers, notebook())
    assert r.status_code == 400 and "X-On-Behalf-Of" in r.json()["detail"]


BAD_UPLOADS = {
    "not a notebook": (b"print('hello')\n", "cwa.ipynb", 422, "not a Jupyter notebook"),
    "json but not a notebook": (b'{"hello": 1}', "cwa.ipynb", 422, "not a Jupyter notebook"),
    "empty": (b"", "cwa.ipynb", 422, "empty"),
    "zip traversal": (zipped({"../cwa.ipynb": notebook()}), "sub.zip", 422, ".."),
    "zip absolute path": (zipped({"/etc/cwa.ipynb": notebook()}), "sub.zip", 422, "absolute path"),
    "zip with wrong files": (zipped({"cwa.ipynb": notebook(), "evil.sh": b"rm -rf /"}), "sub.zip", 422, "unexpected"),
    "too big": (b"x" * (1024 * 1024 + 10), "cwa.ipynb", 413, "larger than"),
    "far too big": (b"x" * (3 * 1024 * 1024), "cwa.ipynb", 413, "larger than"),
}


@pytest.mark.parametrize("kind", sorted(BAD_UPLOADS))
def test_bad_uploads_are_refused_and_leave_nothing(kind, client, people, settings, sessions, woken):
    data, name, status, words = BAD_UPLOADS[kind]
    r = upload(client, people.headers["student"], data, name=name)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"detail"} and words in r.json()["detail"]
    assert count_rows(sessions) == 0
    assert blobs_on_disk(settings) == []
    assert woken == []


def test_a_zip_holding_the_notebook_is_accepted(client, people):
    r = upload(client, people.headers["student"], zipped({"cwa.ipynb": notebook()}), name="sub.zip")
    assert r.status_code == 201, r.text


def test_same_idempotency_key_twice_is_one_submission(client, people, sessions, woken):
    data = notebook()
    first = upload(client, people.headers["student"], data, key="k-1")
    again = upload(client, people.headers["student"], data, key="k-1")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    assert count_rows(sessions) == 1
    assert len(woken) == 2  # one pre-check and one full run, woken once


def test_same_idempotency_key_with_another_file_is_a_conflict(client, people, settings, sessions):
    assert upload(client, people.headers["student"], notebook("a = 1"), key="k-2").status_code == 201
    before = blobs_on_disk(settings)
    r = upload(client, people.headers["student"], notebook("a = 2"), key="k-2")
    assert r.status_code == 409 and "Idempotency-Key" in r.json()["detail"]
    assert count_rows(sessions) == 1
    assert blobs_on_disk(settings) == before  # the second file was not stored


def test_rate_limit_per_student(client, people, sessions, settings):
    for n in range(settings.submissions_per_hour):
        assert upload(client, people.headers["student"], notebook(f"n = {n}")).status_code == 201
    r = upload(client, people.headers["student"], notebook("n = 99"))
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= 3600
    assert "an hour" in r.json()["detail"]
    assert count_rows(sessions) == settings.submissions_per_hour
    # Another student is not held back by the first one's uploads.
    assert upload(client, people.headers["other"], notebook("n = 1")).status_code == 201


def test_download_returns_exactly_the_bytes_received(client, people):
    data = zipped({"cwa.ipynb": notebook("y = 2")})
    sub = upload(client, people.headers["student"], data, name="my work.zip").json()
    for role in ("student", "gta", "lecturer", "service"):
        r = client.get(f"/api/v1/submissions/{sub['id']}/file", headers=people.headers[role])
        assert r.status_code == 200
        assert r.content == data
        assert r.headers["x-content-sha256"] == hashlib.sha256(data).hexdigest()


def test_my_submissions_lists_only_mine(client, people):
    mine = upload(client, people.headers["student"], notebook("a = 1")).json()
    theirs = upload(client, people.headers["other"], notebook("b = 1")).json()
    listed = client.get("/api/v1/courseworks/cwa/submissions/mine", headers=people.headers["student"]).json()
    assert [s["id"] for s in listed] == [mine["id"]]
    listed = client.get("/api/v1/courseworks/cwa/submissions/mine", headers=people.headers["other"]).json()
    assert [s["id"] for s in listed] == [theirs["id"]]


def test_unknown_coursework_and_bad_token(client, people):
    r = upload(client, people.headers["student"], notebook(), cw="nope")
    assert r.status_code == 404 and r.json() == {"detail": "no coursework 'nope'."}
    r = upload(client, {"Authorization": "Bearer grd_not-a-real-token"}, notebook())
    assert r.status_code == 401 and "not valid" in r.json()["detail"]


def test_health_and_metrics(client, people):
    r = client.get("/api/v1/health")
    assert r.status_code == 200 and r.json() == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
        "workers": "ok",
        "queues_without_workers": [],
    }
    started = time.time()
    upload(client, people.headers["student"], notebook())
    upload(client, people.headers["student"], b"garbage")
    text = client.get("/metrics", headers=people.headers["gta"]).text
    assert 'grader_uploads_total{coursework="cwa"} 1.0' in text
    assert 'grader_upload_rejections_total{coursework="cwa",reason="invalid"} 1.0' in text
    assert 'grader_runs{status="queued"} 2.0' in text  # the pre-check and the full run
    line = next(row for row in text.splitlines() if row.startswith("grader_oldest_waiting_submission_age_seconds "))
    assert 0 <= float(line.split()[1]) <= time.time() - started + 1  # uploaded during this test (1 s: rounding)


def test_courseworks_are_synced_from_the_rubrics(client, sessions):
    import datetime as dt

    from grader.courseworks.service import coursework_by_code
    from grader.courseworks.sync import file_digest

    with sessions() as s:
        cw = coursework_by_code(session=s, code="cwa")
        assert cw.title == "CW A: a test coursework" and cw.weight == 0.4 and cw.rubric_version == "1"
        # 12:00 in London in January is 12:00 UTC (GMT)
        assert cw.deadline == dt.datetime(2099, 1, 15, 12, 0, tzinfo=dt.UTC)
        assert cw.rubric_digest == file_digest(client.app.state.settings.rubrics_dir / "cwa" / "rubric.yaml")
        assert len(cw.hidden_digest) == 64


def test_health_reports_an_unreachable_broker(settings, api_engine, sessions, woken):
    from fastapi.testclient import TestClient

    from grader.server import create_app

    app = create_app(settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"}), engine=api_engine)
    with TestClient(app) as c:
        r = c.get("/api/v1/health")
    assert r.status_code == 503
    assert r.json()["status"] == "degraded" and r.json()["database"] == "ok"
    assert r.json()["broker"].startswith("unreachable")


def test_a_students_own_x_received_at_is_ignored(client, people):
    headers = {**people.headers["student"], "X-Received-At": "2020-01-01T00:00:00+00:00"}
    r = upload(client, headers, notebook())
    assert r.status_code == 201 and r.json()["stated_received_at"] is None


def test_idempotency_keys_are_per_student(client, people, sessions):
    assert upload(client, people.headers["student"], notebook("a"), key="shared").status_code == 201
    assert upload(client, people.headers["other"], notebook("b"), key="shared").status_code == 201
    assert count_rows(sessions) == 2


def test_concurrent_retries_with_one_key_make_one_submission(client, people, sessions, settings):
    from concurrent.futures import ThreadPoolExecutor

    data = notebook("same = True")
    # Retries in flight together are each an attempt (none has found a stored submission yet),
    # so the burst stays within the hourly limit.
    burst = settings.submissions_per_hour
    with ThreadPoolExecutor(max_workers=burst) as pool:
        replies = list(pool.map(lambda _: upload(client, people.headers["student"], data, key="burst"), range(burst)))
    assert sorted(r.status_code for r in replies).count(201) >= 1
    assert all(r.status_code in (200, 201) for r in replies), [r.text for r in replies]
    assert len({r.json()["id"] for r in replies}) == 1
    assert count_rows(sessions) == 1
