"""Helpers for the CW2 hidden suite. Runs in the judge, never in the student's kernel.

The student's models are loaded only inside the sandbox: in the student's kernel (through
``student.run``, with ``torch.load(weights_only=True)`` into the student's own class, or
``torch.jit.load`` for TorchScript), or by the ``models`` fixture's own sandbox, where no student code
runs (whether a file loads, and its parameter count). Expected values and hidden digits stay here.
The fixtures ``student``, ``credit``, ``submission``, ``run_seed``, ``models`` and ``artifacts``
come from the judge's plugin (docs/hidden-tests.md).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pytest

VAE_FILE, G_FILE, D_FILE = "VAE_model.pth", "GAN_G_model.pth", "GAN_D_model.pth"
MODEL_FILES = (VAE_FILE, G_FILE, D_FILE)
CLASSES = {VAE_FILE: "VAE", G_FILE: "Generator", D_FILE: "Discriminator"}

HELD_OUT_START = 1500  # the notebook uses digits[:1500]; digits[1500:] are held out for marking
NZ = 16  # the notebook's latent size for the GAN (given, fixed)
FIXED_NOISE_SEED = 2026  # public: the notebook's fixed_noise is drawn with it


# --------------------------------------------------------------------------------------------------
# Data the judge chooses


@pytest.fixture
def rng(run_seed: int, request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator for this test, fresh for every grading run (derived from run_seed)."""
    return np.random.default_rng([run_seed, zlib.crc32(request.node.name.encode())])


def digits(start: int = 0, stop: int | None = None) -> np.ndarray:
    """Digits (N, 1, 8, 8) float32 in [0, 1], as the notebook scales them."""
    from sklearn.datasets import load_digits

    return (load_digits().images[start:stop] / 16.0)[:, None].astype(np.float32)


@pytest.fixture(scope="session")
def held_out() -> np.ndarray:
    return digits(HELD_OUT_START)


@pytest.fixture(scope="session")
def test_split(held_out: np.ndarray, run_seed: int) -> np.ndarray:
    """The hidden test split for reconstructions: 200 held-out digits chosen by the run's seed."""
    order = np.random.default_rng([run_seed, 0xC2]).permutation(len(held_out))
    return held_out[order[:200]]


@pytest.fixture(scope="session")
def judge_noise(run_seed: int) -> np.ndarray:
    """Noise for the generator that the student cannot predict: 200 x NZ x 1 x 1, drawn for this run."""
    return np.random.default_rng([run_seed, 0x6A]).standard_normal((200, NZ, 1, 1)).astype(np.float32)


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
