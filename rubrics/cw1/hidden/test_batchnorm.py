"""BatchNorm2d against torch.nn.functional.batch_norm: training mode, running statistics, eval mode."""

import numpy as np
import torch
import torch.nn.functional as F


def _t(a):
    return torch.tensor(np.asarray(a, dtype=np.float32), dtype=torch.float64)


def _batch(rng, shape):
    """A batch whose channels have their own mean and spread, far from 0 and 1."""
    c = shape[1]
    scale = rng.uniform(0.5, 3.0, size=(1, c, 1, 1))
    shift = rng.uniform(-2.0, 2.0, size=(1, c, 1, 1))
    return (rng.normal(size=shape) * scale + shift).astype(np.float32)


def _affine(rng, c):
    return {"weight": rng.uniform(0.5, 1.5, size=c), "bias": rng.normal(size=c)}


def test_batchnorm_train(call_layer, close, rng):
    for ctor, shape, eps in [("BatchNorm2d(3)", (6, 3, 4, 4), 1e-5), ("BatchNorm2d(4, eps=0.001)", (3, 4, 2, 3), 1e-3)]:
        x = _batch(rng, shape)
        params = _affine(rng, shape[1])
        got = call_layer(ctor, x, params=params, train=True)
        ref = F.batch_norm(_t(x), None, None, _t(params["weight"]), _t(params["bias"]), training=True, eps=eps)
        close(got.y, ref.numpy(), f"{ctor} in training mode")


def test_batchnorm_running_stats(call_layer, close, credit, rng):
    cases = []
    # Small batches, so that the unbiased variance differs clearly from the biased one.
    for ctor, shapes, momentum in [
        ("BatchNorm2d(3)", [(4, 3, 2, 2), (4, 3, 2, 2)], 0.1),
        ("BatchNorm2d(2, momentum=0.5)", [(3, 2, 3, 3)], 0.5),
    ]:
        xs = [_batch(rng, s) for s in shapes]
        got = call_layer(ctor, xs, train=True, state=["running_mean", "running_var"])
        c = shapes[0][1]
        mean, var = torch.zeros(c, dtype=torch.float64), torch.ones(c, dtype=torch.float64)
        for x in xs:
            F.batch_norm(_t(x), mean, var, training=True, momentum=momentum)
        cases.append((ctor, len(xs), got, mean.numpy(), var.numpy()))
    for ctor, passes, got, mean, _ in cases:
        close(got.state["running_mean"], mean, f"{ctor}: running_mean after {passes} training-mode pass(es)")
    credit.partial(0.5, "running_mean is right, running_var is not")
    for ctor, passes, got, _, var in cases:
        close(
            got.state["running_var"],
            var,
            f"{ctor}: running_var after {passes} training-mode pass(es) (it uses the unbiased batch variance)",
        )


def test_batchnorm_eval(call_layer, close, rng):
    c = 3
    ctor = "BatchNorm2d(3, eps=0.001)"
    x = _batch(rng, (5, c, 4, 4))
    params = _affine(rng, c)
    buffers = {"running_mean": rng.normal(size=c), "running_var": rng.uniform(0.5, 2.0, size=c)}
    got = call_layer(ctor, x, params=params, buffers=buffers, train=False, state=["running_mean", "running_var"])
    ref = F.batch_norm(
        _t(x),
        _t(buffers["running_mean"]),
        _t(buffers["running_var"]),
        _t(params["weight"]),
        _t(params["bias"]),
        training=False,
        eps=1e-3,
    ).numpy()
    batch_stats = F.batch_norm(
        _t(x), None, None, _t(params["weight"]), _t(params["bias"]), training=True, eps=1e-3
    ).numpy()
    if got.y is not None and got.y.shape == ref.shape and np.allclose(got.y, batch_stats, rtol=1e-4, atol=1e-4):
        raise AssertionError(
            f"{ctor} in evaluation mode normalised with the batch statistics; it must use running_mean and running_var"
        )
    close(got.y, ref, f"{ctor} in evaluation mode (with running_mean and running_var loaded)")
    for name in ("running_mean", "running_var"):
        close(
            got.state[name],
            buffers[name].astype(np.float32).astype(np.float64),
            f"{ctor}: {name} must not change in evaluation mode",
        )
