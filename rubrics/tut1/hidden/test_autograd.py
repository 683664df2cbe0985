"""Part 2: autograd, against the derivative worked out by hand here."""

import numpy as np

FIT = """
w, b = fit_line(torch.tensor(x), torch.tensor(y))
out = torch.stack([torch.as_tensor(v).detach().double().reshape(()) for v in (w, b)])
"""


def test_gradient(call, close, rng):
    x = rng.uniform(-3, 3, size=int(rng.integers(4, 10))).astype(np.float32).astype(np.float64)
    got = call("out = gradient(torch.tensor(x))", x=x)
    close(got, np.cos(x) * x**2 + 2 * x * np.sin(x), "gradient(x)", atol=1e-3)  # d/dx sin(x) x^2


def test_fit_line(call, credit, rng):
    w, b = rng.uniform(-2, 2), rng.uniform(-1, 1)
    x = rng.uniform(-1, 1, size=64).astype(np.float32)
    y = (w * x + b + rng.normal(0, 0.01, size=64)).astype(np.float32)
    got = call(FIT, x=x, y=y)
    assert got is not None and got.shape == (2,), "fit_line must return two numbers: (w, b)"
    ref_w, ref_b = np.polyfit(x.astype(np.float64), y.astype(np.float64), 1)
    err = float(max(abs(got[0] - ref_w), abs(got[1] - ref_b)))
    if err < 0.3:
        credit.partial(0.5, "close to the least-squares line, not yet on it: more steps or a larger learning rate?")
    assert err <= 0.05, "fit_line's (w, b) is not the least-squares line: more steps or a larger learning rate?"
