"""A submission whose file name is not Latin-1 downloads like any other (RFC 6266 / 5987):
``filename*`` carries the exact name, ``filename`` an ASCII stand-in, through the real route."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from api_kit import notebook, upload


def _params(header: str) -> dict[str, str]:
    kind, *params = [p.strip() for p in header.split(";")]
    assert kind == "attachment"
    return dict(p.split("=", 1) for p in params)


@pytest.mark.parametrize(
    "name, fallback",
    [
        ("résumé-测试.ipynb", "resume-.ipynb"),
        ("try; ünïcode.ipynb", "try unicode.ipynb"),  # a semicolon cannot split the header
        ("测试.ipynb", ".ipynb"),
    ],
)
def test_a_non_latin1_name_downloads(client, people, name, fallback):
    data = notebook()
    receipt = upload(client, people.headers["student"], data, name=name)
    assert receipt.status_code == 201, receipt.text
    stored = receipt.json()["original_filename"]
    for who in ("student", "lecturer"):
        r = client.get(f"/api/v1/submissions/{receipt.json()['id']}/file", headers=people.headers[who])
        assert r.status_code == 200, r.text
        assert r.content == data
        params = _params(r.headers["content-disposition"])
        assert params["filename"] == f'"{fallback}"'
        assert params["filename*"].startswith("UTF-8''")
        assert unquote(params["filename*"][len("UTF-8''") :], encoding="utf-8") == stored


def test_a_plain_name_keeps_the_plain_header(client, people):
    receipt = upload(client, people.headers["student"], notebook(), name="cwa.ipynb").json()
    r = client.get(f"/api/v1/submissions/{receipt['id']}/file", headers=people.headers["student"])
    assert r.headers["content-disposition"] == 'attachment; filename="cwa.ipynb"'


def test_the_header_is_latin1_and_has_no_injected_parameters():
    from grader.api.content_disposition import content_disposition  # here, so the route tests run on any version

    value = content_disposition('a"; filename="evil.exe\r\nX: y.ipynb')
    value.encode("latin-1")
    assert "\r" not in value and "\n" not in value
    assert set(_params(value)) == {"filename", "filename*"}
