"""The sample CW2 is at the real course's size and stays consistent: the notebooks are what build.py
writes, the hidden suite makes the notebook's images exactly as its torchvision pipelines do, the
committed reference is a standard DCGAN of realistic size under the 25 000 000 limit, and the two
GANs of the samples straddle the limit by the pre-check's count. Fast: nothing is graded here (the
notebook's definitions run in this process, in about a second)."""

from __future__ import annotations

import importlib.util
import io
import os
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from workers.runner.inspect_models import count_archive, count_loaded

REPO = Path(__file__).resolve().parents[3]
CW2 = REPO / "rubrics" / "cw2"
LIMIT = 25_000_000


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hidden():
    return _module("cw2_hidden_conftest", CW2 / "hidden" / "conftest.py")


@pytest.fixture(scope="module")
def submissions():
    return _module("cw2_submissions", REPO / "tests" / "cw2_submissions.py")


@pytest.fixture(scope="module")
def notebook_ns(submissions):
    """The solution notebook's definitions (data, classes), run here on one thread."""
    import torch

    os.environ.setdefault("MPLBACKEND", "Agg")
    torch.set_num_threads(1)
    nb = nbformat.reads((CW2 / "solution.ipynb").read_text(), as_version=4)
    return submissions._definitions(nb)


def test_notebooks_are_what_build_py_writes(tmp_path: Path):
    _module("cw2_build", CW2 / "build.py").main(tmp_path)
    for name in ("skeleton.ipynb", "solution.ipynb"):
        assert (tmp_path / name).read_text() == (CW2 / name).read_text(), f"rerun rubrics/cw2/build.py ({name})"
    with zipfile.ZipFile(CW2 / "solution.zip") as archive:
        assert archive.read("cw2.ipynb").decode().strip() == (CW2 / "solution.ipynb").read_text().strip(), (
            "solution.zip's notebook is not solution.ipynb: rerun rubrics/cw2/train_reference.py"
        )


def test_the_hidden_suite_makes_the_notebooks_images(hidden, notebook_ns):
    """The judge (numpy, no torch) and the notebook (torchvision's Compose) make the same images."""
    mnist = hidden.canvas(hidden.digits(), 20)
    assert mnist.shape == (1797, 1, 28, 28)
    assert np.abs(mnist - notebook_ns["images"].numpy()).max() < 1e-5
    gan = hidden.gan_training_images()
    assert gan.shape == (1500, 3, 32, 32)
    assert np.abs(gan - notebook_ns["gan_images"].numpy()).max() < 1e-5
    assert tuple(notebook_ns["fixed_noise"].shape) == (100, 100, 1, 1)
    assert np.array_equal(hidden.fixed_noise(), notebook_ns["fixed_noise"].numpy())


def test_hidden_images_change_with_every_run_and_are_none_of_the_notebooks(hidden, notebook_ns):
    digits = hidden.hidden_digits(CW2 / "hidden")
    run = {seed: hidden.test_split.__wrapped__(digits, seed) for seed in (1, 2)}
    assert run[1].shape == (hidden.HIDDEN_BATCH, 1, 28, 28)
    assert not np.allclose(run[1], run[2])
    public = notebook_ns["images"].numpy().reshape(1797, -1)
    nearest = np.min(((run[1].reshape(len(run[1]), -1)[:, None] - public[None]) ** 2).sum(-1), axis=1)
    assert nearest.min() > 1e-3, "a hidden image equals one the notebook makes"
    gan = hidden.gan_real.__wrapped__(digits, 1)
    assert gan.shape == (len(digits), 3, 32, 32) and gan.min() >= -1 and gan.max() <= 1


def test_the_reference_is_a_standard_dcgan_of_realistic_size():
    with zipfile.ZipFile(CW2 / "solution.zip") as archive:
        sizes = {name: archive.getinfo(name).file_size for name in ("GAN_G_model.pth", "GAN_D_model.pth")}
        counts = {name: count_archive(zipfile.ZipFile(io.BytesIO(archive.read(name))))[0] for name in sizes}
    assert sizes["GAN_G_model.pth"] > 10 * 2**20, sizes  # float32, millions of parameters
    assert 4_000_000 < sum(counts.values()) < LIMIT, counts


def test_the_limit_samples_straddle_the_limit(submissions, notebook_ns):
    """Counted by the pre-check's rule (every stored tensor, BatchNorm's statistics included), on
    meta tensors: nothing of 100 MB is allocated here."""
    import torch

    d = count_loaded(notebook_ns["Discriminator"]().state_dict())[0]
    with torch.device("meta"):
        under, over = (
            notebook_ns["Generator"](ngf=n).state_dict() for n in (submissions.NGF_UNDER, submissions.NGF_OVER)
        )
    counted = [sum(_stored(t) for t in s.values()) + d for s in (under, over)]
    assert counted == [24_964_194, 25_214_586]
    assert counted[0] <= LIMIT < counted[1]


def _stored(tensor) -> int:
    """inspect_models.storage_count for one tensor: max(elements, bytes / 4)."""
    nbytes = tensor.numel() * tensor.element_size()
    return max(tensor.numel(), -(-nbytes // 4))
