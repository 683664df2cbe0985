"""torchvision in the student zone of both backends: the docker backend's image carries what the
bwrap sandbox has (it binds the same course runtime), so a transforms pipeline and make_grid work
there too, and a download fails on the missing network."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.sandbox
CODE = """
import numpy as np, torch, torchvision
from torchvision import datasets, transforms
from torchvision.utils import make_grid
t = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
image = t(np.zeros((28, 28), dtype=np.uint8))
grid = make_grid(torch.zeros(100, 3, 32, 32), nrow=10)
try:
    datasets.MNIST("/work/data", train=True, download=True)
    download = "downloaded"
except Exception as e:
    download = type(e).__name__ + ": " + str(e)[:300]
report(version=torchvision.__version__, image=list(image.shape), grid=list(grid.shape), download=download)
"""


def test_torchvision_transforms_make_grid_and_no_download(run):
    out, outcome = run(CODE, memory_mb=1536, wall_time_s=120, cpu_time_s=120, pids=64, work_dir_mb=64)
    assert outcome.exit_code == 0, outcome.log[-3000:]
    seen = json.loads(out.decode().strip().splitlines()[-1])
    assert seen["version"].startswith("0.28.0")
    assert seen["image"] == [1, 28, 28] and seen["grid"] == [3, 342, 342]
    assert seen["download"].startswith("RuntimeError: Error downloading"), seen["download"]  # no network inside
