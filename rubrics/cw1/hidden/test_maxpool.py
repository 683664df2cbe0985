"""MaxPool2d against torch.nn.functional.max_pool2d."""

import numpy as np
import torch
import torch.nn.functional as F


def check_pool(call_layer, close, rng, k, shape, stride=None, grad=False):
    x = rng.normal(size=shape).astype(np.float32)  # continuous values: no ties
    ctor = f"MaxPool2d({k})" if stride is None else f"MaxPool2d({k}, stride={stride})"
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ref = F.max_pool2d(xt, k, stride=stride)
    g = rng.normal(size=tuple(ref.shape)).astype(np.float32) if grad else None
    got = call_layer(ctor, x, grad_out=g)
    what = f"{ctor} on a {'x'.join(map(str, shape))} input"
    close(got.y, ref.detach().numpy(), what)
    if grad:
        (ref * torch.tensor(g, dtype=torch.float64)).sum().backward()
        close(got.grads["x"], xt.grad.numpy(), f"{what}: gradient with respect to the input")


def test_maxpool_forward(call_layer, close, rng):
    check_pool(call_layer, close, rng, 2, (2, 3, 8, 8), stride=2)
    check_pool(call_layer, close, rng, 3, (2, 2, 9, 9), stride=2)  # overlapping windows
    check_pool(call_layer, close, rng, 2, (1, 2, 5, 5), stride=1)


def test_maxpool_default_stride(call_layer, close, rng):
    """stride defaults to kernel_size."""
    check_pool(call_layer, close, rng, 2, (2, 3, 8, 8))
    check_pool(call_layer, close, rng, 3, (1, 2, 9, 9))
    check_pool(call_layer, close, rng, 2, (1, 2, 7, 7))


def test_maxpool_gradient(call_layer, close, rng):
    check_pool(call_layer, close, rng, 2, (2, 3, 6, 6), stride=2, grad=True)
    check_pool(call_layer, close, rng, 3, (1, 2, 7, 7), stride=2, grad=True)
