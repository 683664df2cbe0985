"""GPU tests without a GPU: a fake ``nvidia-smi`` on PATH and a fake /dev tree stand in for the
NVIDIA driver, a boundary this machine cannot run. What needs a real GPU is scripts/gpu_check.sh."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from gpu_kit import FakeSmi

collect_ignore_glob = ["courseworks/*"]  # hidden suites: the judge runs them, not this pytest


@pytest.fixture
def fake_smi(tmp_path, monkeypatch) -> FakeSmi:
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    return FakeSmi(folder)


@pytest.fixture
def no_smi(tmp_path, monkeypatch):
    """A PATH with no nvidia-smi on it: a machine without an NVIDIA driver."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def fake_dev():
    """A /dev tree with NVIDIA-like character nodes (copies of /dev/null's numbers), reachable by the
    sandbox uid (bwrap resolves bind sources as that uid)."""
    root = Path(tempfile.mkdtemp(prefix="grader-fake-dev-", dir="/var/tmp"))
    root.chmod(0o755)
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"):
        os.mknod(root / name, 0o666 | 0o020000, os.makedev(1, 3))
    (root / "nvidia-caps").mkdir(mode=0o755)
    os.mknod(root / "nvidia-caps" / "nvidia-cap1", 0o444 | 0o020000, os.makedev(1, 3))
    yield root
    shutil.rmtree(root)
