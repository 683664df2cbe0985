"""/metrics is closed by default: the metrics token or a staff API token reads it; a student's
token, a wrong token or none does not; the ``metrics_public`` setting opens it on purpose."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from grader.server import create_app
from grader.settings import Settings

TOKEN = "metrics-" + "m" * 40


@pytest.fixture
def metrics_client(settings, api_engine, sessions):
    def make(**overrides) -> TestClient:
        configured = Settings.model_validate({**settings.model_dump(), **overrides})  # validated, like the env's
        return TestClient(create_app(configured, engine=api_engine))

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_metrics_need_the_metrics_token_or_a_staff_token(metrics_client, people):
    with metrics_client(metrics_token=TOKEN) as client:
        for headers, status in [
            ({}, 401),
            (bearer("wrong"), 401),
            (bearer(TOKEN + "x"), 401),
            (people.headers["student"], 403),
            (people.headers["other"], 403),
            (bearer(TOKEN), 200),
            (people.headers["gta"], 200),
            (people.headers["lecturer"], 200),
            (people.headers["service"], 200),
        ]:
            r = client.get("/metrics", headers=headers)
            assert r.status_code == status, (headers, r.text)
            if status == 200:
                assert "grader_runs" in r.text
            else:
                assert "grader_runs" not in r.text and "detail" in r.json()
        assert "metrics token" in client.get("/metrics").json()["detail"]


def test_without_a_metrics_token_only_staff_tokens_read_them(metrics_client, people):
    with metrics_client() as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=bearer("")).status_code == 401
        assert client.get("/metrics", headers=people.headers["lecturer"]).status_code == 200


def test_metrics_public_opens_them_explicitly(metrics_client):
    with metrics_client(metrics_public=True) as client:
        r = client.get("/metrics")
        assert r.status_code == 200 and "grader_runs" in r.text
