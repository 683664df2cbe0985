"""scripts/gpu_check_jobs.py (gpu_check.sh's "one job per GPU" check) on the fake driver: `grader up`
finds the GPU, starts a worker of its own pinned to it, and two students' GPU jobs sent at once run
one after the other on that worker, each log naming the GPU. No CUDA behind the fake nodes, so the
smoke notebook's marks are 0 here: full marks is what the real device run shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from gpu_kit import GPU0

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]  # grader up grades two notebooks in a child process

REPO = Path(__file__).resolve().parents[2]


def test_two_gpu_jobs_at_once_run_one_after_the_other_on_grader_ups_gpu_worker(fake_smi, fake_dev, tmp_path):
    env = {**os.environ, "GRADER_GPU_DEV_ROOT": str(fake_dev)}
    done = subprocess.run(
        [sys.executable, "scripts/gpu_check_jobs.py", str(tmp_path / "up"), "0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = done.stdout + done.stderr
    assert (
        "PASS  grader up's banner names the GPU: GPU:         GPU 0: a worker of its own grades the gpu queue" in out
    ), out
    assert "PASS  one job per GPU: the second waited for the first" in out, out
    assert "PASS  both graded by the one gpu worker" in out, out
    assert f"PASS  each run's log names the GPU: device: GPU 0 ({GPU0})" in out, out
    assert "FAIL  two GPU jobs graded, full marks" in out and done.returncode == 1, out  # the fake driver: no CUDA
