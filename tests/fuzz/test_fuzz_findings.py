"""What the fuzzer found, pinned down: each as a fixed request to the running service (or, for the
roster's speed, a count of SQL statements), so a regression fails whatever the fuzzer draws.
"""

from __future__ import annotations

import httpx
import pytest
from fuzz_kit import notebook
from sqlalchemy import event, func, select

from grader.courseworks.models import Coursework
from grader.marking.models import ManualMark
from grader.roster.models import Student
from grader.roster.service import RosterEntry, import_students
from grader.submissions.models import Submission
from grader.webhooks.models import WebhookEndpoint

NUL = "a\x00b"


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_declared_error_is_a_detail_sentence(live_service: str) -> None:
    """Every 4xx the document declares has the body the app sends, ``{"detail": "<sentence>"}``:
    FastAPI's default 422 (a list of errors) and body-less declarations broke response validation."""
    doc = httpx.get(f"{live_service}/openapi.json").json()
    wrong = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, reply in op["responses"].items():
                if not status.startswith("4"):
                    continue
                schema = reply.get("content", {}).get("application/json", {}).get("schema")
                detail = _resolve(doc, _resolve(doc, schema or {}).get("properties", {}).get("detail", {}))
                if detail.get("type") != "string":
                    wrong.append(f"{method.upper()} {path} {status}")
    assert not wrong, "error replies not declared as {detail: string}: " + ", ".join(wrong[:10])


def test_an_oversized_body_is_a_declared_413(live_service: str, seeded, fuzz_settings) -> None:
    """``BodyLimit`` answers 413 on every route before the route runs: a roster past the upload limit
    got a status the document did not declare for it."""
    doc = httpx.get(f"{live_service}/openapi.json").json()
    undeclared = [
        f"{m.upper()} {p}"
        for p, ops in doc["paths"].items()
        for m, op in ops.items()
        if "requestBody" in op and "413" not in op["responses"]
    ]
    assert not undeclared, "413 not declared: " + ", ".join(undeclared)
    # The largest roster the schema allows, with long names: ~2.4 MB, past the 1 MB (+1 MB slack) limit.
    students = [{"external_id": f"big{i}", "name": "n" * 200} for i in range(10_000)]
    assert fuzz_settings.upload_max_mb == 1
    response = httpx.post(
        f"{live_service}/api/v1/roster", headers=seeded.headers("lecturer"), json={"students": students}, timeout=60
    )
    assert response.status_code == 413 and "larger than" in response.json()["detail"]


def test_a_422_has_the_declared_shape(live_service: str, seeded) -> None:
    response = httpx.get(f"{live_service}/api/v1/submissions/not-a-uuid", headers=seeded.headers("gta"))
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str) and "submission_id" in response.json()["detail"]


def _count(sessions, model, *where) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.mark.parametrize(
    "body",
    [
        {"students": [{"external_id": NUL, "name": "Dana"}]},
        {"students": [{"external_id": "s7", "name": NUL}]},
        {"students": [{"external_id": "s7", "name": "Dana", "email": NUL}]},
    ],
    ids=["external_id", "name", "email"],
)
def test_roster_text_with_nul_is_refused_by_name(live_service: str, seeded, fuzz_sessions, body) -> None:
    """PostgreSQL cannot store NUL: it was a 500; now a 422 naming the field, and no one is added."""
    before = _count(fuzz_sessions, Student)
    response = httpx.post(f"{live_service}/api/v1/roster", headers=seeded.headers("lecturer"), json=body)
    assert response.status_code == 422, response.text
    assert "NUL" in response.json()["detail"] and "students.0." in response.json()["detail"]
    assert _count(fuzz_sessions, Student) == before


def test_marker_text_with_nul_is_refused(live_service: str, seeded, fuzz_sessions) -> None:
    """A mark's comment, a penalty's comment, a counting reason, a release note: 422, nothing saved."""
    base, lecturer = f"{live_service}/api/v1", seeded.headers("lecturer")
    sub = seeded.submissions["alice-cwa-graded"]
    requests = [
        ("PUT", f"/submissions/{sub}/marks/essay", {"score": 3, "comment": NUL, "expected_version": None}),
        ("PUT", f"/submissions/{sub}/penalties/nolabels", {"applied": True, "comment": NUL, "expected_version": None}),
        ("POST", f"/submissions/{sub}/counting", {"reason": NUL}),
        ("POST", "/courseworks/cwa/release", {"note": NUL}),
    ]
    for method, path, body in requests:
        response = httpx.request(method, base + path, headers=lecturer, json=body)
        assert response.status_code == 422, f"{method} {path}: {response.status_code} {response.text}"
        assert "NUL" in response.json()["detail"]
    assert _count(fuzz_sessions, ManualMark) == 0
    assert _count(fuzz_sessions, Coursework, Coursework.code == "cwa", Coursework.released_at.is_not(None)) == 0
    marking = httpx.get(f"{base}/submissions/{sub}/marking", headers=lecturer).json()
    assert marking["counting_choice"] is None and marking["penalties"][0]["decision"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://course.example.org/x", "description": NUL},
        {"url": "https://course.example.org/x", "secret": NUL * 20},
        {"url": "https://course.example.org/x", "events": [NUL]},
    ],
    ids=["description", "secret", "events"],
)
def test_webhook_text_with_nul_is_refused(live_service: str, seeded, fuzz_sessions, body) -> None:
    before = _count(fuzz_sessions, WebhookEndpoint)
    response = httpx.post(f"{live_service}/api/v1/webhooks", headers=seeded.headers("lecturer"), json=body)
    assert response.status_code == 422, response.text
    assert "NUL" in response.json()["detail"]
    assert _count(fuzz_sessions, WebhookEndpoint) == before


@pytest.mark.parametrize(
    "suffix, field",
    [
        (f"runs/{2**31}/artifacts", "run_id"),
        (f"runs/{2**70}/artifacts/grid", "run_id"),
        ("runs/{run}/artifacts/gr%00id", "name"),
    ],
)
def test_artifact_paths_beyond_the_columns_are_invalid_not_a_crash(live_service: str, seeded, suffix, field) -> None:
    """A run id past the integer column, or a name no test can save, reached the database: 500."""
    sub = seeded.submissions["alice-cwa-graded"]
    path = suffix.format(run=seeded.runs["alice-cwa-graded"])
    response = httpx.get(f"{live_service}/api/v1/submissions/{sub}/{path}", headers=seeded.headers("gta"))
    assert response.status_code == 422, response.text
    assert f"path.{field}" in response.json()["detail"]


@pytest.mark.parametrize("stated", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_stated_receipt_time_outside_utc_is_refused(live_service: str, seeded, fuzz_sessions, stated) -> None:
    """A course system's X-Received-At that has no UTC time failed lateness with a 500 after the
    file was stored; now a 400 that says so, and no submission is recorded."""
    before = _count(fuzz_sessions, Submission)
    response = httpx.post(
        f"{live_service}/api/v1/courseworks/cwa/submissions",
        headers={**seeded.headers("service"), "X-On-Behalf-Of": "s1", "X-Received-At": stated},
        files={"file": ("cwa.ipynb", notebook("late = True"), "application/octet-stream")},
    )
    assert response.status_code == 400, response.text
    assert "X-Received-At" in response.json()["detail"]
    assert _count(fuzz_sessions, Submission) == before


def test_a_large_roster_import_is_a_handful_of_queries(fuzz_engine, fuzz_sessions, seeded) -> None:
    """The largest import the API allows (10,000 students) took over 20 s: one query and one
    autoflush per entry. Now the known students are looked up in a few queries, whatever the size."""
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    entries = [RosterEntry(f"bulk{i}", f"Student {i}") for i in range(3000)] + [RosterEntry("s1", "Alice")]
    event.listen(fuzz_engine, "before_cursor_execute", count)
    try:
        with fuzz_sessions() as session:
            result = import_students(session=session, entries=entries)
    finally:
        event.remove(fuzz_engine, "before_cursor_execute", count)
    assert (result.created, result.updated + result.unchanged) == (3000, 1)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 10, f"{len(selects)} SELECTs for one import"
    assert _count(fuzz_sessions, Student, Student.external_id.like("bulk%")) == 3000
