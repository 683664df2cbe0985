"""Every expected value is computed here, from the run's seed; the student side only ever sees inputs.

Run against a runner that answers every request with forged values: nothing may pass.
"""

import numpy as np


def data(run_seed, n=5):
    return np.random.default_rng(run_seed).normal(size=(4, n)).astype(np.float32)


def test_double(student, run_seed):
    x = data(run_seed)
    out = student.run("y = double(x)", inputs={"x": x}, outputs=["y"])
    assert np.allclose(out["y"], 2 * x), "double(x) is wrong"


def test_add_one(student, run_seed, credit):
    x = data(run_seed)
    out = student.run("y = x + 1", inputs={"x": x}, outputs=["y"])
    assert np.allclose(out["y"], x + 1), "x + 1 is wrong"
    credit.partial(0.5)


def test_sum(student, run_seed):
    x = data(run_seed)
    out = student.run("y = x.sum(axis=1)", inputs={"x": x}, outputs=["y"])
    assert np.allclose(out["y"], x.sum(axis=1)), "sum is wrong"


def test_flag(student, run_seed):
    k = int(np.random.default_rng(run_seed).integers(1000, 2000))
    out = student.run("ok = is_small(k)", inputs={"k": k}, outputs=["ok"])
    assert out["ok"] is False, "is_small is wrong"


def test_message(student, run_seed):
    name = f"student-{run_seed}"
    out = student.run("msg = greet(name)", inputs={"name": name}, outputs=["msg"])
    assert out["msg"] == f"hello {name}", "greet is wrong"


def test_stats(student, run_seed):
    x = data(run_seed)
    out = student.run("d = stats(x)", inputs={"x": x}, outputs=["d"])
    assert isinstance(out["d"], dict) and abs(out["d"].get("mean", 0) - float(x.mean())) < 1e-5


def test_scale(student, run_seed, credit):
    x = data(run_seed)
    out = student.run("y = scale(x)", inputs={"x": x}, outputs=["y"])
    error = float(np.abs(np.asarray(out["y"], dtype=float) - 3 * x).max())
    assert error < 1e-4, "scale is wrong"
    credit.score(1.0)


def test_first_ten(student):
    out = student.run("l = list(range(10))", outputs=["l"])
    assert out["l"] == list(range(10)), "range is wrong"
