"""The dashboard's JSON fetches and forms under the body limits: deeply nested JSON is a 422
(never a 500), and a form body over settings.request_max_kb is a 413."""

from __future__ import annotations

from web_kit import sign_in

DEEP = b"[" * 100_000 + b"]" * 100_000
ZERO = "00000000-0000-0000-0000-000000000000"


def test_deeply_nested_json_to_the_marking_fetches_is_422(client, people):
    csrf = sign_in(client, "gina")
    headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json", "X-Requested-With": "fetch"}
    for method, path in (("PUT", f"/staff/submissions/{ZERO}/marks/curves"),
                         ("PUT", f"/staff/submissions/{ZERO}/penalties/nolabels"),
                         ("POST", "/staff/courseworks/cwa/items/curves/comments")):
        r = client.request(method, path, headers=headers, content=b'{"text": ' + DEEP + b"}")
        assert r.status_code == 422, (path, r.status_code, r.text[:300])
        assert "nested too deeply" in r.json()["detail"]


def test_a_2mb_form_to_a_page_is_413(client, people):
    csrf = sign_in(client, "lee")
    r = client.post("/lecturer/courseworks/cwa/release", data={"csrf_token": csrf, "note": "x" * (2 * 2**20)},
                    follow_redirects=False)
    assert r.status_code == 413, r.text[:300]
    assert "larger than the 1 MB" in r.json()["detail"]
