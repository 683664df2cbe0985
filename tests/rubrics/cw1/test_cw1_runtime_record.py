"""The recording that CW1's run-time from-scratch check (rubrics/cw1/hidden/test_runtime_layers.py)
sends into the student's kernel, run here in-process with real torch on layers that reach torch's
own entry points by every route we know of, and on honest ones. The whole path (a kernel in the
sandbox, the data-only protocol, the suggested penalty) is tests/grading/test_cw1_from_scratch.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

HIDDEN = Path(__file__).resolve().parents[3] / "rubrics" / "cw1" / "hidden" / "test_runtime_layers.py"
_spec = importlib.util.spec_from_file_location("cw1_runtime_layers", HIDDEN)
runtime_layers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runtime_layers)

TAKEN_AT_IMPORT = F.conv2d  # a reference taken before any recording starts


def conv(x, w, b):
    return torch.ops.aten.convolution(x, w, b, [1, 1], [1, 1], [1, 1], False, [0, 0], 1)


# route -> (forward(layer, x) for a 3 -> 4 channel layer on N x 3 x 6 x 6, a name it must record)
CHEATS = {
    "getattr": (lambda m, x: getattr(F, "con" + "v2d")(x, m.w, m.b, padding=1), "conv2d"),
    "taken_at_import": (lambda m, x: TAKEN_AT_IMPORT(x, m.w, m.b, padding=1), "conv2d"),
    "torch_namespace": (lambda m, x: torch.conv2d(x, m.w, m.b, padding=1), "aten.convolution"),
    "aten_operator": (lambda m, x: conv(x, m.w, m.b), "aten.convolution"),
    "library_module": (lambda m, x: m.library(x), "conv2d"),
    "max_pool": (
        lambda m, x: F.max_pool2d(x, 2).repeat(1, 1, 2, 2)[:, :1].expand(-1, 4, -1, -1) + m.b[:, None, None],
        "aten.max_pool2d_with_indices",
    ),
    "batch_norm": (
        lambda m, x: (
            torch.batch_norm(x, None, None, None, None, True, 0.1, 1e-5, False)[:, :1].expand(-1, 4, -1, -1)
            * m.b[:, None, None]
        ),
        "aten.native_batch_norm",
    ),
    "linear": (lambda m, x: torch._C._nn.linear(x.permute(0, 2, 3, 1), m.w[:, :, 1, 1]).permute(0, 3, 1, 2), "linear"),
}
HONEST = {
    "unfold_matmul": lambda m, x: (
        (m.w.reshape(4, -1) @ F.unfold(x, 3, padding=1)).reshape(x.shape[0], 4, 6, 6) + m.b[:, None, None]
    ),
    "einsum": lambda m, x: torch.einsum("nchw,oc->nohw", x, m.w[:, :, 1, 1]) + m.b[:, None, None],
}


class Layer(torch.nn.Module):
    def __init__(self, forward):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4, 3, 3, 3))
        self.b = torch.nn.Parameter(torch.randn(4))
        self.library = torch.nn.Conv2d(3, 4, 3, padding=1)
        self._forward = forward

    def forward(self, x):
        return self._forward(self, x)


def recorded(forward) -> list[str]:
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 6)).astype(np.float32)
    names = {
        "Layer": lambda: Layer(forward),
        "x": x,
        "functions": list(runtime_layers.LIBRARY_FUNCTIONS),
        "operators": list(runtime_layers.LIBRARY_OPERATORS),
    }
    exec(runtime_layers.RECORD.replace("{ctor}", "Layer()"), names)
    return names["used"]


@pytest.mark.parametrize("route", sorted(CHEATS))
def test_every_route_to_torchs_own_layers_is_recorded(route):
    forward, name = CHEATS[route]
    assert name in recorded(forward)


@pytest.mark.parametrize("route", sorted(HONEST))
def test_an_honest_layer_records_nothing(route):
    assert recorded(HONEST[route]) == []


def test_a_layer_that_raises_records_what_it_reached_and_the_record_still_comes_back():
    def broken(m, x):
        F.conv2d(x, m.w, m.b, padding=1)
        raise ValueError("not finished")

    assert "conv2d" in recorded(broken)
