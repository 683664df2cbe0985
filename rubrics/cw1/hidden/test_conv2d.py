"""Conv2d against torch.nn.functional.conv2d, with the same weights and random inputs."""

import numpy as np
import torch
import torch.nn.functional as F


def _t(a):
    return None if a is None else torch.tensor(a, dtype=torch.float64)


def check_conv(call_layer, close, rng, cin, cout, k, size, stride=None, padding=None, bias=False, n=2):
    """Build Conv2d(cin, cout, k, ...) in the student's kernel (stride/padding passed only when given)."""
    h, w = size
    x = rng.normal(size=(n, cin, h, w))
    params = {"weight": rng.normal(size=(cout, cin, k, k)) / np.sqrt(cin * k * k)}
    if bias:
        params["bias"] = rng.normal(size=(cout,))
    args = [str(cin), str(cout), str(k)]
    if stride is not None:
        args.append(f"stride={stride}")
    if padding is not None:
        args.append(f"padding={padding}")
    args.append(f"bias={bias}")
    ctor = f"Conv2d({', '.join(args)})"
    got = call_layer(ctor, x.astype(np.float32), params=params)
    x32 = {name: v.astype(np.float32) for name, v in params.items()}
    ref = F.conv2d(
        _t(x.astype(np.float32)), _t(x32["weight"]), _t(x32.get("bias")), stride=stride or 1, padding=padding or 0
    ).numpy()
    close(got.y, ref, f"{ctor} on a {n}x{cin}x{h}x{w} input")


def test_conv2d_basic(call_layer, close, rng):
    for cin, cout, k, hw in [(1, 4, 3, 8), (3, 5, 2, 6), (2, 3, 1, 5)]:
        check_conv(call_layer, close, rng, cin, cout, k, (hw, hw))


def test_conv2d_stride(call_layer, close, rng):
    check_conv(call_layer, close, rng, 3, 4, 3, (9, 9), stride=2)
    check_conv(call_layer, close, rng, 2, 3, 2, (8, 8), stride=3)


def test_conv2d_padding(call_layer, close, rng):
    check_conv(call_layer, close, rng, 3, 4, 3, (6, 6), padding=1)
    check_conv(call_layer, close, rng, 2, 3, 5, (5, 5), padding=2)


def test_conv2d_bias(call_layer, close, rng):
    check_conv(call_layer, close, rng, 3, 4, 3, (6, 6), bias=True)
    check_conv(call_layer, close, rng, 1, 2, 1, (4, 4), bias=True)


def test_conv2d_no_bias(student):
    got = student.run(
        "layer = Conv2d(3, 4, 3, bias=False)\n"
        "bias_is_none = getattr(layer, 'bias', 0) is None\n"
        "names = sorted(name for name, _ in layer.named_parameters())\n",
        outputs=["bias_is_none", "names"],
    )
    assert got.get("bias_is_none") is True, "Conv2d(3, 4, 3, bias=False) must set `bias` to None"
    assert got.get("names") == ["weight"], (
        f"Conv2d(3, 4, 3, bias=False) must have one parameter, `weight`; it has {got.get('names')!r}"[:200]
    )


def test_conv2d_combined(call_layer, close, rng):
    """Stride, padding and bias together, on non-square inputs."""
    check_conv(call_layer, close, rng, 3, 4, 3, (9, 7), stride=2, padding=1, bias=True)
    check_conv(call_layer, close, rng, 2, 5, 4, (10, 8), stride=3, padding=2, bias=True, n=1)
