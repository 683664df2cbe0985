"""Build the Tutorial 1 notebooks: ``skeleton.ipynb`` (what students get) and ``solution.ipynb``.

    .venv/bin/python rubrics/tut1/build.py

Both come from one list of cells (``grader.rubrics.authoring``), as for CW1. Students submit the
notebook as ``tut1.ipynb``, as often as they like: a tutorial is unassessed (docs/tutorials.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

from grader.rubrics.authoring import Cell, code, md, write_notebooks

HERE = Path(__file__).resolve().parent
STUB = "    raise NotImplementedError  # your code here"

CELLS: list[Cell] = [
    md(
        "intro",
        """
        # Tutorial 1: Tensors and autograd

        Four small functions. This tutorial is **not assessed**: submit `tut1.ipynb` as often as you
        like, and the feedback on every test appears as soon as it is graded (seconds). It never counts
        towards your coursework or module mark.
        """,
    ),
    code(
        "imports",
        """
        # given
        import torch
        """,
    ),
    md(
        "part1",
        """
        ## Part 1: Tensor operations without loops (5 points)

        **standardise(x)**: `x` is an `n x d` tensor; return it with each column shifted and scaled to mean 0
        and standard deviation 1.

        **pairwise_distances(a, b)**: `a` is `n x d`, `b` is `m x d`; return the `n x m` tensor of the
        Euclidean distances between every row of `a` and every row of `b`. Use broadcasting: no Python loops
        or comprehensions.
        """,
    ),
    code(
        "standardise",
        """
        def standardise(x):
            return (x - x.mean(dim=0)) / x.std(dim=0)
        """,
        skeleton=f"def standardise(x):\n{STUB}",
    ),
    code(
        "pairwise",
        """
        def pairwise_distances(a, b):
            diff = a[:, None, :] - b[None, :, :]
            return (diff ** 2).sum(dim=-1).clamp_min(0).sqrt()
        """,
        skeleton=f"def pairwise_distances(a, b):\n{STUB}",
    ),
    md(
        "part2",
        """
        ## Part 2: Autograd (5 points)

        **gradient(x)**: return the gradient of `f(x) = sum(sin(x) * x**2)` with respect to the 1-d tensor `x`,
        computed by autograd (`requires_grad_`, `backward`), not by hand.

        **fit_line(x, y)**: fit `y ≈ w * x + b` by gradient descent on the mean squared error, with autograd
        computing the gradients; return `(w, b)` (two numbers or 0-d tensors).
        """,
    ),
    code(
        "gradient",
        """
        def gradient(x):
            x = x.detach().clone().requires_grad_(True)
            (torch.sin(x) * x ** 2).sum().backward()
            return x.grad
        """,
        skeleton=f"def gradient(x):\n{STUB}",
    ),
    code(
        "fit_line",
        """
        def fit_line(x, y, steps=2000, lr=0.1):
            w = torch.zeros((), requires_grad=True)
            b = torch.zeros((), requires_grad=True)
            optimiser = torch.optim.SGD([w, b], lr=lr)
            for _ in range(steps):
                optimiser.zero_grad()
                loss = ((w * x + b - y) ** 2).mean()
                loss.backward()
                optimiser.step()
            return w.detach(), b.detach()
        """,
        skeleton=f"def fit_line(x, y, steps=2000, lr=0.1):\n{STUB}",
    ),
    code(
        "try-it",
        """
        # given: try your functions here (this cell is not graded)
        print(standardise(torch.randn(5, 3)).mean(dim=0))
        """,
    ),
]


def main(out_dir: Path = HERE) -> int:
    for path in write_notebooks(CELLS, out_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
