"""CW2's hidden digits are data no student can obtain (docs/hidden-tests.md, "Hidden data"): font
digits drawn from a secret seed by ``rubrics/cw2/make_hidden_set.py``, kept as ``.npy`` in the hidden
folder, none of them (nor its upscaled image) near any of scikit-learn's digits, which every student
has. Fast: numpy only, under a few seconds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
CW2 = REPO / "rubrics" / "cw2"
HIDDEN = CW2 / "hidden"
# Euclidean distance in [0, 1] pixels. scikit-learn's held-out digits lie 0.57 (8 x 8) from their
# nearest training digit at the least; the hidden font digits 1.2 (8 x 8) and 2.2 (28 x 28) from the
# nearest scikit-learn digit. Noise alone (0.05 a pixel, CW1's) moves an 8 x 8 digit by 0.4.
MIN_DISTANCE_8 = 0.75
MIN_DISTANCE_28 = 1.5


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hidden():
    return _module("cw2_hidden_conftest", HIDDEN / "conftest.py")


def _nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    fa, fb = a.reshape(len(a), -1), b.reshape(len(b), -1)
    d2 = (fa**2).sum(1)[:, None] + (fb**2).sum(1)[None, :] - 2 * fa @ fb.T
    return np.sqrt(np.maximum(d2, 0).min(axis=1))


def test_the_hidden_folder_holds_only_npy_and_python_files():
    files = [p for p in HIDDEN.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    odd = sorted(str(p.relative_to(HIDDEN)) for p in files if p.suffix not in (".npy", ".py"))
    assert not odd, f"the hidden folder must hold only .npy data and .py tests: {odd}"
    assert any(p.suffix == ".npy" for p in files)


def test_the_hidden_digits_load_without_pickle_at_the_expected_shape(hidden):
    raw = np.load(HIDDEN / hidden.HIDDEN_FILE, allow_pickle=False)
    assert raw.dtype == np.float32 and raw.shape == (300, 8, 8)
    assert raw.min() >= 0 and raw.max() <= 1
    assert hidden.hidden_digits(HIDDEN).shape == (300, 8, 8)


def test_no_hidden_digit_is_one_of_scikit_learns(hidden):
    mine, public = hidden.hidden_digits(HIDDEN), hidden.digits()  # public: all 1797, as the notebook scales them
    assert _nearest(mine, public).min() > MIN_DISTANCE_8, "a hidden digit is (nearly) one of scikit-learn's"
    near = _nearest(hidden.canvas(mine, 20), hidden.canvas(public, 20))
    assert near.min() > MIN_DISTANCE_28, "an upscaled hidden digit is (nearly) one of scikit-learn's upscaled"


def test_make_hidden_set_draws_new_digits_with_every_secret_seed(tmp_path: Path):
    make = _module("cw2_make_hidden_set", CW2 / "make_hidden_set.py")
    first = np.load(make.write_hidden_set(tmp_path / "a", count=100), allow_pickle=False)
    second = np.load(make.write_hidden_set(tmp_path / "b", count=100), allow_pickle=False)
    assert first.shape == second.shape == (100, 8, 8) and first.dtype == np.float32
    assert _nearest(first, second).min() > 0.1, "two secret seeds drew the same digit"
    again = np.load(make.write_hidden_set(tmp_path / "c", count=100, seed=5), allow_pickle=False)
    assert np.array_equal(again, np.load(make.write_hidden_set(tmp_path / "d", count=100, seed=5)))
    with pytest.raises(ValueError, match="count >= 100"):
        make.write_hidden_set(tmp_path / "e", count=10)
