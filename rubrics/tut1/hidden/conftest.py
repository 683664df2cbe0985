"""Helpers for the Tutorial 1 hidden suite. Runs in the judge, never in the student's kernel: inputs
are drawn here from the run's seed and expected values computed here with torch."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

RTOL = 1e-4
ATOL = 1e-4


@pytest.fixture
def rng(run_seed: int, request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator for this test, fresh for every grading run (derived from run_seed)."""
    return np.random.default_rng([run_seed, zlib.crc32(request.node.name.encode())])


def as_array(value) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value)
    return arr.astype(np.float64) if arr.dtype.kind in "biuf" else None


def assert_close(got, ref: np.ndarray, what: str, atol: float = ATOL) -> None:
    """The message names what differs and shapes, never the expected values."""
    got = as_array(got)
    assert got is not None, f"{what}: nothing numeric came back"
    assert got.shape == ref.shape, f"{what}: shape {tuple(got.shape)}, expected {tuple(ref.shape)}"
    assert np.all(np.isfinite(got)), f"{what}: contains NaN or infinity"
    err = np.abs(got - ref)
    ok = err <= atol + RTOL * np.abs(ref)
    assert ok.all(), f"{what}: {(~ok).mean():.0%} of the values are wrong (largest error {err.max():.3g})"


@pytest.fixture
def close():
    """``close(got, ref, what, atol=...)``: assert that the student's array matches ``ref``."""
    return assert_close


@pytest.fixture
def call(student):
    """``call(snippet, **arrays)``: run ``snippet`` (which sets ``out``) in the student's kernel with
    the arrays as float32 inputs, and return ``out`` as a float array (None if it is not numeric)."""

    def run(snippet: str, **inputs):
        arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in inputs.items()}
        got = student.run("import torch\n" + snippet, inputs=arrays, outputs=["out"])
        return as_array(got.get("out"))

    return run
