"""Backward passes: the gradients autograd computes through the student's layers match torch's."""

import numpy as np
import torch
import torch.nn.functional as F


def _leaf(a):
    return torch.tensor(np.asarray(a, dtype=np.float32), dtype=torch.float64, requires_grad=True)


def check_grads(call_layer, close, credit, rng, ctor, x, params, reference):
    """reference(x, **params) -> output, on float64 leaves; compares d(sum(out * g)) for x and each parameter."""
    leaves = {name: _leaf(v) for name, v in params.items()}
    xt = _leaf(x)
    out = reference(xt, **leaves)
    g = rng.normal(size=tuple(out.shape)).astype(np.float32)
    (out * torch.tensor(g, dtype=torch.float64)).sum().backward()
    got = call_layer(ctor, x, params=params, train=True, grad_out=g)
    names = ["x", *params]
    for i, name in enumerate(names):
        ref = (xt if name == "x" else leaves[name]).grad.numpy()
        what = "the input" if name == "x" else f"`{name}`"
        close(got.grads[name], ref, f"{ctor}: gradient with respect to {what}")
        if i + 1 < len(names):
            credit.partial((i + 1) / len(names), f"{ctor}: some gradients are right, not all")


def test_grad_conv2d(call_layer, close, credit, rng):
    x = rng.normal(size=(2, 2, 6, 6)).astype(np.float32)
    params = {"weight": rng.normal(size=(3, 2, 3, 3)) / 4.0, "bias": rng.normal(size=3)}
    check_grads(
        call_layer,
        close,
        credit,
        rng,
        "Conv2d(2, 3, 3, bias=True)",
        x,
        params,
        lambda x, weight, bias: F.conv2d(x, weight, bias),
    )


def test_grad_batchnorm2d(call_layer, close, credit, rng):
    x = (rng.normal(size=(4, 3, 3, 3)) * 2.0 + 1.0).astype(np.float32)
    params = {"weight": rng.uniform(0.5, 1.5, size=3), "bias": rng.normal(size=3)}
    check_grads(
        call_layer,
        close,
        credit,
        rng,
        "BatchNorm2d(3)",
        x,
        params,
        lambda x, weight, bias: F.batch_norm(x, None, None, weight, bias, training=True),
    )


def test_grad_linear(call_layer, close, credit, rng):
    x = rng.normal(size=(5, 6)).astype(np.float32)
    params = {"weight": rng.normal(size=(4, 6)) / 2.5, "bias": rng.normal(size=4)}
    check_grads(
        call_layer,
        close,
        credit,
        rng,
        "Linear(6, 4, bias=True)",
        x,
        params,
        lambda x, weight, bias: F.linear(x, weight, bias),
    )
