"""The runner folder is all the sandbox gets: it must be staged whole (that it imports nothing of
the grader is the `runner-alone` import contract in pyproject.toml, checked by `make lint`)."""

from __future__ import annotations

from pathlib import Path

from workers.judge.staging import RUNNER_SOURCE, stage_runner
from workers.runner import RUNNER_ARGV, RUNNER_FILES, RUNNER_MOUNT, RUNTIME_PYTHON
from workers.sandbox.base import RUNNER_MOUNT as SANDBOX_RUNNER_MOUNT
from workers.sandbox.base import RUNTIME_MOUNT


def test_argv_points_into_the_sandbox_mounts():
    assert RUNNER_MOUNT == SANDBOX_RUNNER_MOUNT
    assert RUNTIME_PYTHON == f"{RUNTIME_MOUNT}/bin/python"
    assert RUNNER_ARGV[0] == RUNTIME_PYTHON and RUNNER_ARGV[-1] == f"{RUNNER_MOUNT}/boot.py"
    assert "-I" in RUNNER_ARGV


def test_every_module_is_staged():
    assert set(RUNNER_FILES) == {p.name for p in RUNNER_SOURCE.glob("*.py")}


def test_staging_copies_only_the_runner(tmp_path: Path):
    stage_runner(tmp_path / "runner")
    staged = tmp_path / "runner"
    assert sorted(p.name for p in staged.iterdir()) == sorted(RUNNER_FILES)
    assert oct(staged.stat().st_mode & 0o777) == "0o755"
    assert all(oct(p.stat().st_mode & 0o777) == "0o644" for p in staged.iterdir())
