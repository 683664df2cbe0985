"""torchvision in the student zone, tested by use: a Colab-style notebook's `transforms.Compose`
pipeline, `make_grid` and `datasets.MNIST(..., download=True)` in the real bwrap sandbox (no network).

In `definitions` mode the download is dropped on its own, and the execution report says what and why;
in `full` mode it runs, fails on the missing network, and the cell's error says so. Everything else
in the notebook works in both. (The judge's environment imports torchvision too: last test.)
"""

from __future__ import annotations

import numpy as np
import pytest
from runner_harness import start_runner

pytestmark = pytest.mark.sandbox

NOTEBOOK = [
    # 0: the imports a real CW2 notebook starts with
    "import numpy as np\nimport torch\nimport torchvision\nfrom torchvision import datasets, transforms\n"
    "from torchvision.utils import make_grid, save_image\nfrom torch.utils.data import DataLoader",
    # 1: the data pipeline; the download cannot run here
    "transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])\n"
    "train_set = datasets.MNIST('./data', train=True, download=True, transform=transform)\n"
    "IMAGE = transform(np.full((28, 28), 255, dtype=np.uint8))",
    # 2: what depends on the data set fails with it, alone
    "train_loader = DataLoader(train_set, batch_size=64, shuffle=True)",
    # 3: a grid of samples, as the TA test cell draws it
    "GRID = make_grid(torch.linspace(-1, 1, 100 * 3 * 32 * 32).reshape(100, 3, 32, 32), nrow=10, normalize=True)",
    # 4: definitions after the failure still run
    "def denorm(x):\n    return (x + 1) / 2\nVERSION = torchvision.__version__",
]


@pytest.fixture(scope="module")
def definitions():
    r = start_runner(NOTEBOOK, mode="definitions")
    yield r
    r.close()


def test_definitions_mode_drops_the_download_alone_and_says_why(definitions):
    report = definitions.report
    status = {c["index"]: c["status"] for c in report["cells"]}
    assert status == {0: "ok", 1: "ok", 2: "error", 3: "ok", 4: "ok"}, report
    (download,) = [s for s in report["skipped"] if s["cell"] == 1]
    assert download["source"].startswith("train_set = datasets.MNIST(") and download["line"] == 2
    assert download["reason"] == "download (download=True): no network in the sandbox, so it cannot run during grading"
    assert report["cells"][2]["error"] == "NameError: name 'train_set' is not defined"


def test_transforms_and_make_grid_work_in_the_sandbox(definitions):
    out = definitions.run(
        "image = IMAGE\ngrid = GRID\nv = VERSION\nd = denorm(torch.zeros(1))", outputs=["image", "grid", "v", "d"]
    )
    assert out["image"].shape == (1, 28, 28) and np.allclose(out["image"], 1.0)  # ToTensor then Normalize
    assert out["grid"].shape == (3, 10 * 32 + 11 * 2, 10 * 32 + 11 * 2)  # 10 x 10, padding 2
    assert out["grid"].min() >= 0 and out["grid"].max() <= 1
    assert out["v"].startswith("0.28.0") and out["d"].tolist() == [0.5]


def test_full_mode_runs_the_download_which_fails_on_the_missing_network():
    runner = start_runner(NOTEBOOK[:3], mode="full")
    try:
        cells = {c["index"]: c for c in runner.report["cells"]}
        assert cells[0]["status"] == "ok" and cells[1]["status"] == "error" and cells[2]["status"] == "error"
        assert "no network in the sandbox" in cells[1]["error"], cells[1]
        out = runner.run("ok = transform is not None", outputs=["ok"])  # the line before the download ran
        assert out["ok"] is True
    finally:
        runner.close()


def test_the_judges_environment_has_the_same_torchvision():
    import torch
    import torchvision
    from torchvision import transforms
    from torchvision.utils import make_grid

    assert torchvision.__version__.startswith("0.28.0")
    grid = make_grid(transforms.Compose([transforms.Lambda(lambda t: t * 2)])(torch.ones(4, 1, 8, 8)))
    assert tuple(grid.shape) == (3, 8 + 4, 4 * 8 + 5 * 2)
