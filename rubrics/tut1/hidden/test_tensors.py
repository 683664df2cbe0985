"""Part 1: tensor operations, against numpy computed here."""

import ast

import numpy as np


def _f32(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32).astype(np.float64)  # what the student's kernel received


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))


def test_standardise(call, close, rng):
    x = _f32(rng.normal(3.0, 2.5, size=(int(rng.integers(5, 12)), int(rng.integers(2, 6)))))
    got = call("out = standardise(torch.tensor(x))", x=x)
    centred = x - x.mean(axis=0)
    try:  # torch's std (unbiased, the default) or numpy's (population): both are accepted
        close(got, centred / x.std(axis=0, ddof=1), "standardise(x)")
    except AssertionError:
        close(got, centred / x.std(axis=0), "standardise(x)")


def test_pairwise_distances(call, close, credit, rng):
    a = _f32(rng.normal(size=(int(rng.integers(3, 8)), 4)))
    b = _f32(rng.normal(size=(int(rng.integers(3, 8)), 4)))
    got = call("out = pairwise_distances(torch.tensor(a), torch.tensor(b))", a=a, b=b)
    close(got, _distances(a, b), "pairwise_distances(a, b)", atol=1e-3)
    credit.partial(0.5, "right on two different sets, wrong on a set against itself")
    same = call("out = pairwise_distances(torch.tensor(a), torch.tensor(a))", a=a)
    close(same, _distances(a, a), "pairwise_distances(a, a)", atol=1e-3)


def _function(cells, name: str) -> ast.FunctionDef | None:
    found = None
    for src in cells:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                found = node
    return found


def test_pairwise_distances_no_loops(submission):
    node = _function(submission.cells, "pairwise_distances")
    assert node is not None, "there is no function pairwise_distances"
    assert not any(isinstance(n, ast.Raise) for n in ast.walk(node)), "pairwise_distances is not written yet"
    loops = [n for n in ast.walk(node) if isinstance(n, (ast.For, ast.While, ast.comprehension))]
    assert not loops, "pairwise_distances uses a Python loop or comprehension: use broadcasting instead"
