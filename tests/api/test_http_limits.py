"""Request bodies: the upload routes take settings.upload_max_mb and read nothing before the
caller is known; every other route takes settings.request_max_kb; bad JSON is a 4xx, never a 500.

The upload checks run against the real app served by uvicorn (a raw socket shows whether the
server answered before the body was sent); the rest over the TestClient.
"""

from __future__ import annotations

import io

import httpx
import pytest
from api_kit import notebook, upload
from live_kit import request_head, send_head_then_wait, serving, stream_body_until_answered
from sqlalchemy import func, select

from grader.server import UPLOAD_PATHS, create_app
from grader.submissions.models import Submission

MB = 2**20
UPLOAD = "/api/v1/courseworks/cwa/submissions"
MULTIPART = "multipart/form-data; boundary=grader-test-boundary"


@pytest.fixture
def live_200mb(settings, api_engine, sessions, woken):
    """The service as deployed: uploads up to 200 MB."""
    app = create_app(settings.model_copy(update={"upload_max_mb": 200}), engine=api_engine)
    with serving(app) as url:
        yield url


def test_anonymous_200mb_upload_is_refused_before_its_body_is_sent(live_200mb):
    head = request_head("POST", UPLOAD, {"Content-Type": MULTIPART, "Content-Length": str(200 * MB)})
    answer = send_head_then_wait(live_200mb, head, wait_s=10)
    # Not one byte of the body was sent: the server decided on the token alone.
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200] or "no answer: the server waits for the body"
    assert b"Bearer" in answer


def test_anonymous_upload_stops_being_read_at_once(live_200mb):
    head = request_head("POST", UPLOAD, {"Content-Type": MULTIPART, "Content-Length": str(200 * MB)})
    answer, sent = stream_body_until_answered(live_200mb, head, 200 * MB, wait_s=60)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    # What the server took before answering fits in its socket buffers: it never read the 200 MB.
    assert sent < 16 * MB, f"the server took {sent / MB:.0f} MB of an anonymous upload before answering"


def test_a_bad_token_is_refused_before_the_body(live_200mb):
    head = request_head(
        "POST",
        UPLOAD,
        {"Content-Type": MULTIPART, "Content-Length": str(200 * MB), "Authorization": "Bearer grd_not-a-real-token"},
    )
    assert send_head_then_wait(live_200mb, head, wait_s=10).startswith(b"HTTP/1.1 401")


def test_a_throttled_student_is_refused_before_the_body(live_200mb, people, settings):
    for n in range(settings.submissions_per_hour):
        assert (
            httpx.post(
                live_200mb + UPLOAD,
                headers=people.headers["student"],
                files={"file": ("cwa.ipynb", notebook(f"n = {n}"))},
            ).status_code
            == 201
        )
    head = request_head(
        "POST", UPLOAD, {"Content-Type": MULTIPART, "Content-Length": str(100 * MB), **people.headers["student"]}
    )
    answer = send_head_then_wait(live_200mb, head, wait_s=10)
    assert answer.startswith(b"HTTP/1.1 429"), answer[:200] or "no answer: the server waits for the body"
    assert b"retry-after" in answer.lower()


def test_the_dashboards_upload_form_needs_a_session_before_its_body(live_200mb):
    head = request_head(
        "POST", "/courseworks/cwa/submissions", {"Content-Type": MULTIPART, "Content-Length": str(200 * MB)}
    )
    answer = send_head_then_wait(live_200mb, head, wait_s=10)
    assert answer.startswith(b"HTTP/1.1 303"), answer[:200] or "no answer: the server waits for the body"
    assert b"/login" in answer


def test_a_declared_oversize_upload_is_413_before_its_body(live_200mb, people):
    head = request_head(
        "POST", UPLOAD, {"Content-Type": MULTIPART, "Content-Length": str(300 * MB), **people.headers["student"]}
    )
    answer = send_head_then_wait(live_200mb, head, wait_s=10)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"larger than the 200 MB" in answer


def test_an_authenticated_oversize_upload_is_413(client, people, sessions, settings):
    # settings.upload_max_mb is 1 here: a 3 MB file, sent with and without a Content-Length.
    r = upload(client, people.headers["student"], b"x" * (3 * MB))
    assert r.status_code == 413 and "larger than the 1 MB" in r.json()["detail"], r.text

    def chunked():
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="cwa.ipynb"\r\n\r\n'
        for _ in range(3 * 16):
            yield b"x" * (64 * 1024)
        yield b"\r\n--b--\r\n"

    r = client.post(
        UPLOAD,
        headers={**people.headers["student"], "Content-Type": "multipart/form-data; boundary=b"},
        content=chunked(),
    )
    assert r.status_code == 413 and "larger than the 1 MB" in r.json()["detail"], r.text
    with sessions() as s:
        assert s.scalar(select(func.count(Submission.id))) == 0


@pytest.fixture
def client_200mb(settings, api_engine, sessions, woken):
    """The TestClient of the service as deployed (uploads up to 200 MB): the 1 MB default of
    every other route cannot be mistaken for the upload limit."""
    from fastapi.testclient import TestClient

    with TestClient(create_app(settings.model_copy(update={"upload_max_mb": 200}), engine=api_engine)) as c:
        yield c


def test_a_2mb_json_body_to_another_route_is_413(client_200mb, people):
    client = client_200mb
    students = [{"external_id": f"x{n:07d}", "name": "A" * 200} for n in range(10_000)]  # about 2.3 MB
    r = client.post("/api/v1/roster", headers=people.headers["lecturer"], json={"students": students})
    assert r.status_code == 413, r.text
    assert "larger than the 1 MB" in r.json()["detail"]


def test_a_2mb_chunked_body_is_413(client_200mb, people):
    client = client_200mb

    def chunks():
        yield b'{"students": ['
        for n in range(10_000):
            yield b'{"external_id": "x%07d", "name": "%s"},' % (n, b"A" * 200)
        yield b'{"external_id": "last", "name": "B"}]}'

    r = client.post(
        "/api/v1/roster", headers={**people.headers["lecturer"], "Content-Type": "application/json"}, content=chunks()
    )
    assert r.status_code == 413, r.text


def test_a_body_under_the_limit_is_taken(client, people):
    students = [{"external_id": f"x{n:05d}", "name": "A" * 50} for n in range(2000)]  # about 160 KB
    r = client.post("/api/v1/roster", headers=people.headers["lecturer"], json={"students": students})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2000


DEEP = b"[" * 100_000 + b"]" * 100_000  # 200 KB: under the body limit, past json's recursion limit


@pytest.mark.parametrize(
    "method,path,role",
    [
        ("POST", "/api/v1/roster", "lecturer"),
        ("PUT", "/api/v1/submissions/00000000-0000-0000-0000-000000000000/marks/essay", "gta"),
        ("POST", "/api/v1/webhooks", "lecturer"),
    ],
)
def test_deeply_nested_json_is_422_not_500(client, people, method, path, role):
    for body in (DEEP, b'{"students": ' + DEEP + b"}"):
        r = client.request(
            method, path, headers={**people.headers[role], "Content-Type": "application/json"}, content=body
        )
        assert r.status_code == 422, r.text
        assert "nested too deeply" in r.json()["detail"]


def test_the_upload_paths_are_the_upload_routes(settings, api_engine, sessions, woken):
    """The body limit picks the upload limit by path: each of UPLOAD_PATHS must be a real POST
    route (its own answer, not 404/405) that takes more than the default limit."""
    from fastapi.testclient import TestClient

    app = create_app(settings.model_copy(update={"request_max_kb": 64}), engine=api_engine)
    body = {"file": ("cwa.ipynb", b"x" * 500_000)}
    with TestClient(app) as c:
        assert c.post("/api/v1/roster", files=body).status_code == 413
        for template in UPLOAD_PATHS:
            r = c.post(template.replace("{cw}", "cwa"), files=body, follow_redirects=False)
            assert r.status_code in (401, 303), (template, r.status_code, r.text[:200])


def test_the_openapi_document_still_describes_the_upload_body(client):
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/api/v1/courseworks/{cw}/submissions"]["post"]["requestBody"]
    assert "file" in body["content"]["multipart/form-data"]["schema"]["properties"]


def test_an_upload_without_a_file_field_is_422(client, people):
    r = client.post(UPLOAD, headers=people.headers["student"], files={"other": ("a.ipynb", io.BytesIO(notebook()))})
    assert r.status_code == 422 and "field named 'file'" in r.json()["detail"], r.text
