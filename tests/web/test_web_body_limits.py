"""The dashboard's JSON fetches and forms under the body limits: deeply nested JSON is a 422
(never a 500), and a form body over settings.request_max_kb is a 413."""

from __future__ import annotations

from fastapi.testclient import TestClient
from web_kit import sign_in

from grader.server import create_app

DEEP = b"[" * 100_000 + b"]" * 100_000
ZERO = "00000000-0000-0000-0000-000000000000"


def test_deeply_nested_json_to_the_marking_fetches_is_422(client, people):
    csrf = sign_in(client, "gina")
    headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json", "X-Requested-With": "fetch"}
    for method, path in (
        ("PUT", f"/staff/submissions/{ZERO}/marks/curves"),
        ("PUT", f"/staff/submissions/{ZERO}/penalties/nolabels"),
        ("POST", "/staff/courseworks/cwa/items/curves/comments"),
    ):
        r = client.request(method, path, headers=headers, content=b'{"text": ' + DEEP + b"}")
        assert r.status_code == 422, (path, r.status_code, r.text[:300])
        assert "nested too deeply" in r.json()["detail"]


def test_a_2mb_form_to_a_page_is_413(web_settings, web_engine, people, woken):
    # Uploads may be 200 MB, as deployed: the page's limit is the 1 MB default, not the upload's.
    app = create_app(web_settings.model_copy(update={"upload_max_mb": 200}), engine=web_engine)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        _post_big_form(client)


def _post_big_form(client) -> None:
    csrf = sign_in(client, "lee")
    r = client.post(
        "/lecturer/courseworks/cwa/release",
        data={"csrf_token": csrf, "note": "x" * (2 * 2**20)},
        follow_redirects=False,
    )
    assert r.status_code == 413, r.text[:300]
    assert "larger than the 1 MB" in r.json()["detail"]
