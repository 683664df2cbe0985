"""`grader up` on a machine whose sandbox cannot run a job (here: bubblewrap missing) prints the
worker self-test's cause and fix and stops: no banner, no gradebook, no worker or API left running."""

from __future__ import annotations

import subprocess

import pytest
from up_kit import BANNER_END, GRADER, Service

from grader.settings import REPO_ROOT

pytestmark = [pytest.mark.sandbox]


def test_up_stops_with_the_cause_and_the_fix_when_the_sandbox_cannot_run(service: Service, tmp_path):
    missing = tmp_path / "no-bwrap" / "bwrap"
    done = subprocess.run(
        [GRADER, "up"],
        env=service.env(GRADER_BWRAP_PATH=str(missing)),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and BANNER_END not in done.stdout
    assert "this worker refuses to serve" in done.stderr
    assert f"cause: bubblewrap is not installed (no executable at {missing})" in done.stderr
    assert "fix:   install it (apt-get install bubblewrap)" in done.stderr
    assert not (service.var / "grader.db").exists()  # stopped before it made anything
