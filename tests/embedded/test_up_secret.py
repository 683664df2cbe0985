"""`grader up` needs no configuration, secret included: with no GRADER_SECRET_KEY it makes a random
one, keeps it under its var/ (mode 0600) and hands it to the worker and the API; the next start
uses the same one. A placeholder secret is refused before anything is made."""

from __future__ import annotations

import subprocess

import httpx
import pytest
from up_kit import GRADER, Service

pytestmark = [pytest.mark.slow]


def _children_secrets(running) -> set[str | None]:
    return {
        p.environ().get("GRADER_SECRET_KEY")
        for p in running.descendants()
        if any(a in ("serve", "worker") for a in p.cmdline())
    }


def test_up_makes_keeps_and_hands_down_its_own_secret(service: Service):
    # About the secret, not the sandbox: the worker's start-up self-test (tests/workers) is skipped.
    service.extra_env["GRADER_WORKER_SELF_TEST"] = "false"
    kept = service.var / "state" / "secret_key"
    first = service.start()
    with httpx.Client(base_url=service.url, timeout=60) as api:
        assert api.get("/api/v1/health").json()["status"] == "ok"
    secret = kept.read_text().strip()
    assert len(secret) >= 32 and kept.stat().st_mode & 0o777 == 0o600
    assert _children_secrets(first) == {secret}  # the API and the worker both run with it
    assert secret not in first.output()  # never printed
    assert service.stop(first) == 0

    second = service.start()
    assert kept.read_text().strip() == secret and _children_secrets(second) == {secret}
    assert service.stop(second) == 0


@pytest.mark.parametrize("placeholder", ["dev-only-secret", "changeme", "short-but-not-a-word"])
def test_up_refuses_a_placeholder_secret_before_changing_anything(service: Service, placeholder: str):
    r = subprocess.run(
        [GRADER, "up"], env=service.env(GRADER_SECRET_KEY=placeholder), capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "GRADER_SECRET_KEY" in r.stderr and "refusing to start" in r.stderr and placeholder not in r.stderr
    assert not (service.var / "grader.db").exists() and not (service.var / "state").exists()
    allowed = subprocess.run(
        [GRADER, "db", "upgrade"],
        env=service.env(GRADER_SECRET_KEY=placeholder, GRADER_DEV_MODE="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert allowed.returncode == 0, allowed.stderr  # an explicit development mode allows it
