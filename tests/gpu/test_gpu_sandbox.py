"""A gpu job in the real bubblewrap sandbox and through the real judge, on a fake driver: the job
sees its own device node only, and a process left on the device takes it out of service."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from gpu_kit import COURSEWORKS, GPU0

from grader.grading.pipeline import grade_submission
from grader.rubrics.loader import load_coursework
from grader.settings import SandboxLimits, Settings
from workers.judge.launcher import SubprocessJudge
from workers.sandbox import get_backend, gpu
from workers.sandbox.base import SandboxSpec

pytestmark = pytest.mark.sandbox

RUNTIME = Path("/opt/grader/runtime")
LIST_DEVICES = """import json, os
print(json.dumps({"dev": sorted(n for n in os.listdir("/dev") if n.startswith("nvidia")),
                  "visible": os.environ.get("CUDA_VISIBLE_DEVICES")}))
"""


@pytest.fixture
def job_dirs():
    root = Path(tempfile.mkdtemp(prefix="grader-gpu-test-", dir="/var/tmp"))
    root.chmod(0o755)
    for name in ("runner", "submission"):
        (root / name).mkdir(mode=0o755)
    (root / "runner" / "prog.py").write_text(LIST_DEVICES)
    (root / "runner" / "prog.py").chmod(0o644)
    yield root
    shutil.rmtree(root)


def test_bwrap_binds_the_pinned_gpu_only(fake_smi, fake_dev, job_dirs, tmp_path):
    fake_smi.set_gpus([(0, GPU0, 0), (1, "GPU-66666666-7777-8888-9999-000000000000", 0)])
    settings = Settings(gpu_dev_root=fake_dev, state_dir=tmp_path / "state", gpu_device="1")
    spec = SandboxSpec(
        argv=[str(RUNTIME / "bin" / "python"), "/opt/grader/runner/prog.py"],
        runtime_dir=RUNTIME,
        runner_dir=job_dirs / "runner",
        submission_dir=job_dirs / "submission",
        limits=SandboxLimits(memory_mb=256, wall_time_s=30),
        env={"CUDA_VISIBLE_DEVICES": "0,1"},
        gpu=True,
    )
    proc = get_backend("bwrap", settings).start(spec)
    out = proc.stdout.read()
    proc.wait(30)
    outcome = proc.kill()
    assert outcome.exit_code == 0, outcome.log
    seen = json.loads(out)
    assert seen["dev"] == ["nvidia-uvm", "nvidia-uvm-tools", "nvidia1", "nvidiactl"]  # not nvidia0
    assert seen["visible"] == "GPU-66666666-7777-8888-9999-000000000000"  # the pin wins over the spec's env


def test_a_gpu_job_without_a_driver_is_refused_before_the_sandbox(no_smi, job_dirs, tmp_path):
    settings = Settings(state_dir=tmp_path / "state")
    spec = SandboxSpec(
        argv=["/bin/true"],
        runtime_dir=RUNTIME,
        runner_dir=job_dirs / "runner",
        submission_dir=job_dirs / "submission",
        limits=SandboxLimits(),
        gpu=True,
    )
    with pytest.raises(gpu.GpuError, match="no NVIDIA GPU here"):
        get_backend("bwrap", settings).start(spec)


@pytest.mark.slow  # grades a whole notebook
def test_the_judge_takes_a_gpu_with_memory_left_held_out_of_service(fake_smi, fake_dev, tmp_path, monkeypatch):
    state = tmp_path / "state"
    monkeypatch.setenv("GRADER_GPU_DEV_ROOT", str(fake_dev))  # the judge is a child process: it reads these
    monkeypatch.setenv("GRADER_STATE_DIR", str(state))
    monkeypatch.setenv("GRADER_RUBRICS_DIR", str(COURSEWORKS))
    settings = Settings()
    cw = load_coursework("gpu_smoke", settings)
    fake_smi.set_apps([(GPU0, 4242, 2048)])  # a process the kill did not reach

    report = grade_submission(cw.folder / "solution.ipynb", cw, settings, judge=SubprocessJudge())
    assert report.status == "graded", report.error
    # No real CUDA behind the fake nodes: the CPU fallback ran the notebook, and the tests say so.
    assert report.score == 0
    assert "is_available() is False" in report.tests["test_gpu.py::test_cuda_available"].message
    device = gpu.resolve(None, gpu.list_gpus())
    assert "pid 4242 (2048 MiB)" in gpu.out_of_service(settings.model_copy(update={"state_dir": state}), device)

    again = grade_submission(cw.folder / "solution.ipynb", cw, settings, judge=SubprocessJudge())
    assert again.status == "error" and again.error_kind == "infrastructure"
    assert "out of service" in again.error
