"""Whole grading runs, as the pipeline starts them: ``python -m workers.judge JOB.json``, real bwrap.

The real runner grades a small notebook against suites/basic; stand-in runners (fakes/) show that
a student side which lies, breaks the pipe or dies cannot earn marks, and that a runner which never
started is an infrastructure error, not a zero.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.sandbox

HERE = Path(__file__).parent
REPO = HERE.parents[1]
RUNTIME = Path("/opt/grader/runtime")
NOTEBOOK = [
    "!pip install -q something\nimport numpy as np\nimport os",
    "def double(a):\n    return 2 * a\n\ndef triple(a):\n    return 2 * a  # the student's bug\n\n"
    "def spin():\n    while True:\n        pass\n\ndef die():\n    os._exit(1)",
]
RESULT_KEYS = {
    "tests",
    "collected",
    "protocol_violation",
    "execution",
    "executed_notebook_path",
    "sandbox",
    "infrastructure_error",
    "seed",
    "artifacts",
    "device",  # which device graded it (docs/gpu.md)
}


@pytest.fixture
def job_dir():
    if not (os.access("/usr/bin/bwrap", os.X_OK) and (RUNTIME / "bin" / "python").exists() and os.geteuid() == 0):
        pytest.fail("needs bubblewrap, the course runtime and root", pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="grader-judge-test-", dir="/var/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def write_job(root: Path, suite: str, seed: int | None = 4242, **execution) -> Path:
    sub = root / "submission"
    sub.mkdir(mode=0o755)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK]), sub / "nb.ipynb")
    (sub / "model.pth").write_bytes(b"weights")
    for p in sub.iterdir():
        p.chmod(0o644)
    job = {
        "coursework": "cw-test",
        "hidden_dir": str(HERE / "suites" / suite),
        "submission_dir": str(sub),
        "notebook": "nb.ipynb",
        "mode": "full",
        "backend": "bwrap",
        "seed": seed,
        "runtime_dir": str(RUNTIME),
        "runner_dir": str(root / "runner"),
        "result_path": str(root / "out" / "result.json"),
        "limits": {"memory_mb": 3072, "pids": 256, "wall_time_s": 300, "cpu_time_s": 300},
        "execution": {"cell_timeout_s": 30, "notebook_timeout_s": 60, "test_call_timeout_s": 10, **execution},
    }
    path = root / "job.json"
    path.write_text(json.dumps(job))
    return path


def judge(job: Path, fake: str | None = None) -> dict:
    cmd = (
        [sys.executable, "-m", "workers.judge", str(job)]
        if fake is None
        else [sys.executable, str(HERE / "judge_harness.py"), str(job), fake]
    )
    proc = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=400, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(Path(json.loads(job.read_text())["result_path"]).read_text())
    assert set(result) == RESULT_KEYS
    return result


def outcomes(result: dict) -> dict[str, tuple[str, float]]:
    return {k: (v["outcome"], v["fraction"]) for k, v in result["tests"].items()}


def test_real_runner_grades_a_notebook(job_dir):
    result = judge(write_job(job_dir, "basic"))
    assert result["infrastructure_error"] is None and result["protocol_violation"] is None
    assert outcomes(result) == {
        "test_basic.py::test_double": ("passed", 1.0),
        "test_basic.py::test_triple": ("failed", 0.0),
        "test_basic.py::test_spin_times_out": ("timeout", 0.0),  # fails alone...
        "test_basic.py::test_after_timeout": ("passed", 1.0),  # ...and the next one passes
        "test_basic.py::test_die_crashes": ("error", 0.0),
        "test_basic.py::test_after_crash": ("passed", 1.0),  # the kernel came back with the definitions
        "test_basic.py::test_partial": ("failed", 0.5),
        "test_basic.py::test_report": ("passed", 1.0),
        "test_basic.py::test_files": ("passed", 1.0),
    }
    assert result["tests"]["test_basic.py::test_triple"]["message"] == "triple(3) should be 9"
    assert result["collected"] == list(result["tests"])
    assert result["seed"] == 4242
    assert result["execution"]["mode"] == "full" and result["execution"]["restarts"] == 0
    assert result["sandbox"]["exit_code"] == 0 and not result["sandbox"]["oom_killed"]
    assert "kernel up" in result["sandbox"]["log_tail"]
    executed = json.loads(Path(result["executed_notebook_path"]).read_text())
    assert len(executed["cells"]) == 2
    assert not list((HERE / "suites" / "basic").rglob("__pycache__"))  # nothing written into the hidden suite


def test_a_seed_is_drawn_when_none_is_given(job_dir):
    result = judge(write_job(job_dir, "garbage", seed=None), fake="honest_then_garbage")
    assert isinstance(result["seed"], int) and result["seed"] >= 0


def test_a_lying_runner_scores_nothing(job_dir):
    result = judge(write_job(job_dir, "attack"), fake="attacker")
    assert result["protocol_violation"] is None and result["infrastructure_error"] is None
    assert result["execution"]["cells"][0]["status"] == "ok"  # it claims a clean run...
    assert "passed" in result["sandbox"]["log_tail"]  # ...and prints "passed" wherever it can
    assert len(result["tests"]) == 8
    assert all(v["outcome"] in ("failed", "error") and v["fraction"] == 0 for v in result["tests"].values()), outcomes(
        result
    )


def test_garbage_on_the_pipe_ends_the_run(job_dir):
    result = judge(write_job(job_dir, "garbage"), fake="honest_then_garbage")
    assert "malformed message" in result["protocol_violation"]
    assert outcomes(result) == {
        "test_garbage.py::test_1_honest": ("passed", 1.0),
        "test_garbage.py::test_2_garbage": ("error", 0.0),
        "test_garbage.py::test_3_would_pass": ("error", 0.0),
        "test_garbage.py::test_4_swallows_errors": ("error", 0.0),
        "test_garbage.py::test_5_submission_only": ("passed", 1.0),  # judge-side analysis still runs
    }


def test_a_runner_dying_after_hello_is_the_student_side(job_dir):
    result = judge(write_job(job_dir, "garbage"), fake="dies_after_hello")
    assert "dead runner" in result["protocol_violation"]
    assert result["infrastructure_error"] is None and result["execution"] is None
    assert {k: v[0] for k, v in outcomes(result).items()} == {
        "test_garbage.py::test_1_honest": "error",
        "test_garbage.py::test_2_garbage": "error",
        "test_garbage.py::test_3_would_pass": "error",
        "test_garbage.py::test_4_swallows_errors": "error",
        "test_garbage.py::test_5_submission_only": "passed",
    }


def test_a_runner_that_never_started_is_infrastructure(job_dir):
    result = judge(write_job(job_dir, "garbage"), fake="dies_at_start")
    assert "did not start" in result["infrastructure_error"]
    assert result["tests"] == {} and result["protocol_violation"] is None
    assert "cannot start (simulated)" in result["sandbox"]["log_tail"]
    assert result["sandbox"]["exit_code"] == 3


def test_a_sandbox_that_cannot_start_is_infrastructure(job_dir):
    job = write_job(job_dir, "garbage")
    spec = json.loads(job.read_text())
    spec["runtime_dir"] = "/nonexistent/runtime"
    job.write_text(json.dumps(spec))
    result = judge(job)
    assert "sandbox did not start" in result["infrastructure_error"] and result["tests"] == {}
