"""Linear against torch.nn.functional.linear."""

import numpy as np
import torch
import torch.nn.functional as F


def _t(a):
    return None if a is None else torch.tensor(np.asarray(a, dtype=np.float32), dtype=torch.float64)


def check_linear(call_layer, close, rng, fin, fout, bias, n=5):
    x = rng.normal(size=(n, fin)).astype(np.float32)
    params = {"weight": rng.normal(size=(fout, fin)) / np.sqrt(fin)}
    if bias:
        params["bias"] = rng.normal(size=fout)
    ctor = f"Linear({fin}, {fout}, bias={bias})"
    got = call_layer(ctor, x, params=params)
    ref = F.linear(_t(x), _t(params["weight"]), _t(params.get("bias"))).numpy()
    close(got.y, ref, f"{ctor} on a {n}x{fin} input")


def test_linear_forward(call_layer, close, rng):
    check_linear(call_layer, close, rng, 7, 4, bias=False)
    check_linear(call_layer, close, rng, 3, 6, bias=False, n=1)


def test_linear_bias(student, call_layer, close, credit, rng):
    got = student.run(
        "off = Linear(5, 3, bias=False)\n"
        "on = Linear(5, 3)\n"
        "off_none = getattr(off, 'bias', 0) is None\n"
        "on_shape = None if getattr(on, 'bias', None) is None else list(on.bias.shape)\n",
        outputs=["off_none", "on_shape"],
    )
    assert got.get("off_none") is True, "Linear(5, 3, bias=False) must set `bias` to None"
    assert got.get("on_shape") == [3], "Linear(5, 3) must have a `bias` parameter of shape (3,)"
    credit.partial(0.5, "the bias parameter is right, the output with a bias is not")
    check_linear(call_layer, close, rng, 6, 4, bias=True)
