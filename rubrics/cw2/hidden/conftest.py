"""Helpers for the CW2 hidden suite. Runs in the judge, never in the student's kernel.

The student's models are loaded only inside the sandbox: in the student's kernel (through
``student.run``, with ``torch.load(weights_only=True)`` into the student's own class, or
``torch.jit.load`` for TorchScript), or by the ``models`` fixture's own sandbox, where no student code
runs (whether a file loads, and its parameter count). Expected values and hidden digits stay here.

The images are made as the notebook makes its own, in numpy (no torch in the judge): 8 x 8 digits
upscaled bilinearly (as torchvision's ``Resize(antialias=False)``) and padded, to 1 x 28 x 28 for the
VAE and, coloured, to 3 x 32 x 32 for the GAN. The notebook's are scikit-learn's digits, which every
student has; the hidden ones are font digits drawn once from a secret seed (``make_hidden_set.py``)
and kept here as ``.npy``, read through ``hidden_dir``, so every test using them is a hidden-data
test (fixed failure messages). Each is also moved by a fraction of a pixel drawn for the grading run
and, for the GAN, coloured with colours drawn for it. Batches are small (100 images), as forward
passes of real-size models are what grading time goes on.
The fixtures ``student``, ``credit``, ``submission``, ``run_seed``, ``models`` and ``artifacts``
come from the judge's plugin (docs/hidden-tests.md).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

VAE_FILE, G_FILE, D_FILE = "VAE_model.pth", "GAN_G_model.pth", "GAN_D_model.pth"
MODEL_FILES = (VAE_FILE, G_FILE, D_FILE)
CLASSES = {VAE_FILE: "VAE", G_FILE: "Generator", D_FILE: "Discriminator"}

N_DEV = 1500  # the notebook trains on scikit-learn's digits[:1500]; the GAN's training images are these
HIDDEN_FILE = "digits_hidden_images.npy"  # (N, 8, 8) font digits from a secret seed: make_hidden_set.py
NZ = 100  # the notebook's latent size for the GAN (given, fixed): the course's 100 x 100 x 1 x 1 batch
FIXED_NOISE_SEED = 2026  # public: the notebook's fixed_noise is drawn with it
COLOUR_SEED = 7  # public: the notebook's colours of its GAN images
HIDDEN_BATCH = 100  # hidden images and judge noise per test
MAX_SHIFT = 0.5  # pixels a hidden image moves each way: new pixels, the same digit


# --------------------------------------------------------------------------------------------------
# Data the judge chooses


@pytest.fixture
def rng(run_seed: int, request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator for this test, fresh for every grading run (derived from run_seed)."""
    return np.random.default_rng([run_seed, zlib.crc32(request.node.name.encode())])


def digits(start: int = 0, stop: int | None = None) -> np.ndarray:
    """scikit-learn's digits (N, 8, 8) in [0, 1], as the notebook scales them (float64)."""
    from sklearn.datasets import load_digits

    return load_digits().images[start:stop] / 16.0


def upscale(images: np.ndarray, size: int) -> np.ndarray:
    """(..., n, n) to (..., size, size), bilinear with half-pixel centres: what torchvision's
    ``Resize((size, size), antialias=False)`` does to a tensor when it enlarges."""
    n = images.shape[-1]
    src = np.maximum((np.arange(size) + 0.5) * n / size - 0.5, 0)
    lo = np.floor(src).astype(int)
    hi, w = np.minimum(lo + 1, n - 1), src - lo
    rows = images[..., lo, :] * (1 - w)[:, None] + images[..., hi, :] * w[:, None]
    return rows[..., lo] * (1 - w) + rows[..., hi] * w


def canvas(images: np.ndarray, inner: int) -> np.ndarray:
    """(N, 8, 8) to (N, 1, inner + 8, inner + 8): upscaled to ``inner`` and padded by 4, in [0, 1]."""
    return np.pad(upscale(images, inner), ((0, 0), (4, 4), (4, 4))).clip(0, 1)[:, None]


def coloured(shapes: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """(N, 1, 32, 32) shapes and (N, 2, 3, 1, 1) colours to the GAN's (N, 3, 32, 32) images in [-1, 1]."""
    ink, paper = 0.4 + 0.6 * colours[:, 0], 0.4 * colours[:, 1]
    return (paper + (ink - paper) * shapes) * 2 - 1


def shifted(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image (..., H, W) moved by up to MAX_SHIFT of a pixel each way, bilinearly (into the empty
    margin: nothing is cut). Whole-pixel moves cost a VAE trained on centred digits too much."""
    moves = rng.uniform(-MAX_SHIFT, MAX_SHIFT, (len(images), 2))
    out = []
    for image, move in zip(images, moves, strict=True):
        for axis, t in zip((-2, -1), move, strict=True):
            image = (1 - abs(t)) * image + abs(t) * np.roll(image, 1 if t > 0 else -1, axis=axis)
        out.append(image)
    return np.stack(out)


def gan_training_images() -> np.ndarray:
    """The notebook's GAN training images (1500, 3, 32, 32), made as its given cell makes them."""
    colours = np.random.default_rng(COLOUR_SEED).uniform(0, 1, (N_DEV, 2, 3, 1, 1)).astype(np.float32)
    shapes = canvas(digits(0, N_DEV), 24)
    return coloured(shapes, colours.astype(np.float64)).astype(np.float32)


def hidden_digits(hidden_dir: Path) -> np.ndarray:
    """The hidden digits (N, 8, 8) in [0, 1] (float64): drawn from fonts with a seed nobody knows."""
    images = np.load(hidden_dir / HIDDEN_FILE, allow_pickle=False)
    if images.ndim != 3 or images.shape[1:] != (8, 8) or len(images) < HIDDEN_BATCH:
        raise RuntimeError(f"the hidden digits' file does not match: {images.shape}")
    return images.astype(np.float64)


@pytest.fixture(scope="session")
def hidden_images(hidden_dir: Path) -> np.ndarray:
    """The hidden digits (300, 8, 8), which no student has."""
    return hidden_digits(hidden_dir)


@pytest.fixture(scope="session")
def test_split(hidden_images: np.ndarray, run_seed: int) -> np.ndarray:
    """The hidden VAE images: 100 hidden digits chosen and moved for this run, (100, 1, 28, 28)."""
    rng = np.random.default_rng([run_seed, 0xC2])
    chosen = hidden_images[rng.permutation(len(hidden_images))[:HIDDEN_BATCH]]
    return shifted(canvas(chosen, 20), rng).astype(np.float32)


@pytest.fixture(scope="session")
def gan_real(hidden_images: np.ndarray, run_seed: int) -> np.ndarray:
    """The hidden GAN images: the hidden digits, coloured and moved for this run, (300, 3, 32, 32)."""
    rng = np.random.default_rng([run_seed, 0xC0])
    colours = rng.uniform(0, 1, (len(hidden_images), 2, 3, 1, 1))
    return shifted(coloured(canvas(hidden_images, 24), colours), rng).astype(np.float32)


@pytest.fixture(scope="session")
def judge_noise(run_seed: int) -> np.ndarray:
    """Noise for the generator that the student cannot predict: 100 x NZ x 1 x 1, drawn for this run."""
    return np.random.default_rng([run_seed, 0x6A]).standard_normal((HIDDEN_BATCH, NZ, 1, 1)).astype(np.float32)


def fixed_noise() -> np.ndarray:
    """The notebook's public fixed noise, (100, NZ, 1, 1)."""
    return np.random.default_rng(FIXED_NOISE_SEED).standard_normal((100, NZ, 1, 1)).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Calling the student's models in the kernel


# Loads a submitted model inside the student's kernel (in the sandbox). ``kind`` comes from the
# ``models`` fixture; a state_dict goes into a fresh instance of the student's own class.
LOADER = """
import torch

def _grader_load(path, kind, cls):
    if kind == "torchscript":
        model = torch.jit.load(path, map_location="cpu")
        if cls is not None:  # a traced module has forward() only: its weights go into the student's class
            try:
                own = cls()
                own.load_state_dict(model.state_dict())
                model = own
            except Exception:
                pass  # not the class's weights: use the TorchScript module as it is
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and not all(isinstance(v, torch.Tensor) for v in state.values()):
            nested = [v for v in state.values() if isinstance(v, dict) and v
                      and all(isinstance(t, torch.Tensor) for t in v.values())]
            state = nested[0] if len(nested) == 1 else state  # a checkpoint {"model": state_dict, ...}
        model = cls()
        model.load_state_dict(state)
    model = model.float().cpu()
    model.eval()
    return model
"""


class ModelMissing(AssertionError):
    """The file is missing or does not load, or the notebook lacks the class: a message for the student."""


def require_loadable(models, name: str):
    info = models.inspect(name)
    if not info.present:
        raise ModelMissing(f"{name} is not in the submission")
    if not info.loads:
        raise ModelMissing(f"{name} does not load: {info.error or 'unknown reason'}")
    return info


@dataclass
class Kernel:
    """Runs the judge's snippets in the student's kernel with one of the submitted models loaded as
    ``model``, or with a fresh instance of a student class as ``model``. The snippet's outputs are set
    to None first; a class missing from the notebook is reported for the student, not as an error."""

    student: object
    models: object

    def with_file(self, name: str, body: str, inputs: dict | None = None, outputs=()) -> dict:
        info = require_loadable(self.models, name)
        cls = CLASSES[name]
        needs = () if info.kind == "torchscript" else (cls,)
        code = LOADER + f"model = _grader_load({name!r}, {info.kind!r}, globals().get({cls!r}))\n"
        return self._run(
            needs,
            code + "with torch.no_grad():\n" + _indent(body),
            inputs,
            outputs,
            f"no class `{cls}` in the notebook to load {name} into",
        )

    def with_class(self, cls: str, body: str, inputs: dict | None = None, outputs=(), grad: bool = False) -> dict:
        """A fresh ``cls()`` (seeded), in evaluation mode; ``body`` runs under no_grad unless ``grad``."""
        code = f"import torch\ntorch.manual_seed(0)\nmodel = {cls}().float().cpu()\nmodel.eval()\n"
        code += body if grad else "with torch.no_grad():\n" + _indent(body)
        return self._run((cls,), code, inputs, outputs, f"no class `{cls}` in the notebook")

    def _run(self, needs, code: str, inputs, outputs, missing_message: str) -> dict:
        outputs = list(outputs)
        head = "".join(f"{name} = None\n" for name in outputs)
        head += f"_grader_missing = [c for c in {list(needs)!r} if c not in globals()]\n"
        code = head + "if not _grader_missing:\n" + _indent(code)
        got = self.student.run(code, inputs=inputs or {}, outputs=[*outputs, "_grader_missing"])
        if got.get("_grader_missing"):
            raise ModelMissing(missing_message)
        return got


def _indent(body: str) -> str:
    return "".join("    " + ln if ln.strip() else ln for ln in body.strip("\n").splitlines(True)) + "\n"


@pytest.fixture(scope="session")
def kernel(student, models) -> Kernel:
    return Kernel(student, models)


# Returns a tensor, or the first tensor of a tuple/list (some students return (loss, bce, kld)).
FIRST_TENSOR = """
def _first(v):
    return v[0] if isinstance(v, (tuple, list)) and v else v
"""


def array(value) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value)
    return arr.astype(np.float64) if arr.dtype.kind in "biuf" else None


def draw_for_markers(draw) -> None:
    """Draw a picture for the markers without it ever deciding marks: a model that cannot draw leaves
    its picture out (its own items say what that costs). A picture belongs to the item of the test
    drawing it, and is shown to the student as that item's output is (docs/hidden-tests.md)."""
    from workers.judge.api import ArtifactError, StudentError

    try:
        draw()
    except (AssertionError, ArtifactError, StudentError):
        pass


def binary_cross_entropy(p: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Elementwise BCE as torch computes it (logs clamped at -100)."""
    with np.errstate(divide="ignore"):
        return -(x * np.maximum(np.log(p), -100.0) + (1 - x) * np.maximum(np.log1p(-p), -100.0))
