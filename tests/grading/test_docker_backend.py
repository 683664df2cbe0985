"""The CW1 reference through the CLI on the docker backend: every auto point, and no container left."""

import json
import os
import subprocess
import sys
import time

import docker
import pytest

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def test_reference_grades_72_of_72_with_backend_docker(cw1):
    api = docker.from_env().api
    since = int(time.time()) - 1
    env = {**os.environ, "GRADER_SANDBOX_BACKEND": "bwrap"}  # the flag, not the setting, picks docker
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader.cli",
            "grade",
            str(cw1.solution),
            "--coursework",
            "cw1",
            "--backend",
            "docker",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "graded", result["error"]
    assert result["score"] == result["auto_max_score"] == 72
    assert {i["status"] for i in result["items"]} == {"passed", "manual"}
    assert result["sandbox"]["exit_code"] == 0 and not result["sandbox"]["oom_killed"]
    # The engine's own record: a container of this grading was created and destroyed. Its judge (the
    # CLI's child) has exited; containers of live hosts belong to concurrent tests.
    events = api.events(
        since=since, until=int(time.time()) + 1, decode=True, filters={"type": "container", "label": "grader.sandbox"}
    )
    actions: dict[str, set[str]] = {}
    for e in events:
        host_pid = e["Actor"]["Attributes"].get("grader.host_pid", "")
        if host_pid.isdigit() and not os.path.exists(f"/proc/{host_pid}"):
            actions.setdefault(e["Actor"]["ID"], set()).add(e["Action"])
    ours = {cid: acts for cid, acts in actions.items() if "create" in acts}
    assert ours, actions
    assert all("destroy" in acts for acts in ours.values()), ours
