"""Per-submission overhead of `grader grade` against plain `jupyter nbconvert --execute`.

Both run the same notebook in the same run, interleaved, and the medians are compared:

    .venv/bin/python bench/overhead.py [--runs 5]

1. the reference CW1 solution: `grader grade` (intake, sandbox, kernel, notebook, hidden suite,
   marks) against `jupyter nbconvert --execute` of the same notebook. The sandbox pins BLAS/OpenMP to
   one thread and one CPU, so the baseline runs with the same thread pinning (like for like); an
   unpinned baseline is printed for information.
2. a one-cell notebook with a one-test suite: the fixed cost of grading anything.
3. the sandbox backends against each other (`--backends bwrap,docker`, `--backend-runs 10`): the
   one-cell submission graded by each backend, interleaved, and each one's per-submission overhead
   over `nbconvert` of the same notebook (median of the runs, same run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PINNED = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
TARGET_RATIO = 1.5


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def nbconvert(notebook: Path, out_dir: Path) -> list[str]:
    return [
        str(BIN / "jupyter"),
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        "--output-dir",
        str(out_dir),
        "--ExecutePreprocessor.timeout=600",
        str(notebook),
    ]


def grade(notebook: Path, coursework: str, backend: str | None = None) -> list[str]:
    chosen = ["--backend", backend] if backend else []
    return [str(BIN / "grader"), "grade", str(notebook), "--coursework", coursework, "--json", *chosen]


def one_cell_coursework(root: Path) -> Path:
    """A minimal coursework: one code cell, one hidden test that calls into the kernel once."""
    cw = root / "bench1"
    (cw / "hidden").mkdir(parents=True)
    (cw / "rubric.yaml").write_text(
        textwrap.dedent("""\
        coursework: bench1
        title: One cell
        weight: 0.4
        total_points: 1
        mode: full
        submission: {notebook: bench1.ipynb}
        parts: [{id: "1", title: One, points: 1}]
        items:
          - {id: add, part: "1", title: Add one, points: 1, auto: {tests: ["test_one.py::test_add"]}}
        """)
    )
    (cw / "hidden" / "test_one.py").write_text(
        textwrap.dedent("""\
        def test_add(student):
            assert student.run("y = add_one(x)", inputs={"x": 1}, outputs=["y"])["y"] == 2
        """)
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("def add_one(x):\n    return x + 1")])
    nbformat.write(nb, cw / "bench1.ipynb")
    return cw / "bench1.ipynb"


def compare_backends(one: Path, out_dir: Path, backends: list[str], runs: int) -> dict[str, object]:
    """The one-cell submission through each backend and through nbconvert, interleaved."""
    if not backends:
        return {}
    samples: dict[str, list[float]] = {b: [] for b in [*backends, "nbconvert_one"]}
    for i in range(runs):
        samples["nbconvert_one"].append(timed(nbconvert(one, out_dir), PINNED))
        for backend in backends:
            samples[backend].append(timed(grade(one, "bench1", backend)))
        print(
            f"backends run {i + 1}/{runs}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in samples.items()),
            file=sys.stderr,
        )
    med = {k: median_of(v) for k, v in samples.items()}
    report: dict[str, object] = {
        "runs": runs,
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "overhead_s": {b: round(med[b] - med["nbconvert_one"], 3) for b in backends},
    }
    if len(backends) == 2:
        a, b = backends
        report[f"ratio_{b}_vs_{a}"] = round(med[b] / med[a], 3)
    return report


def median_of(samples: list[float]) -> float:
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backends", default="bwrap,docker", help="backends to compare ('' for none)")
    parser.add_argument("--backend-runs", type=int, default=10)
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]

    solution = REPO / "rubrics" / "cw1" / "solution.ipynb"
    times: dict[str, list[float]] = {
        k: [] for k in ("grade", "nbconvert_pinned", "nbconvert", "grade_one", "nbconvert_one")
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        one = one_cell_coursework(tmp_path / "rubrics")
        os.environ["GRADER_RUBRICS_DIR"] = str(tmp_path / "rubrics")
        bench_env = {"GRADER_RUBRICS_DIR": str(REPO / "rubrics")}
        for i in range(args.runs):
            times["nbconvert_pinned"].append(timed(nbconvert(solution, tmp_path), PINNED))
            times["grade"].append(timed(grade(solution, "cw1"), bench_env))
            times["nbconvert"].append(timed(nbconvert(solution, tmp_path)))
            times["nbconvert_one"].append(timed(nbconvert(one, tmp_path), PINNED))
            times["grade_one"].append(timed(grade(one, "bench1")))
            print(
                f"run {i + 1}/{args.runs}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), file=sys.stderr
            )
        per_backend = compare_backends(one, tmp_path, backends, args.backend_runs)

    med = {k: median_of(v) for k, v in times.items()}
    ratio = med["grade"] / med["nbconvert_pinned"]
    result = {
        "runs": args.runs,
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "ratio_grade_vs_nbconvert_pinned": round(ratio, 3),
        "ratio_grade_vs_nbconvert_unpinned": round(med["grade"] / med["nbconvert"], 3),
        "fixed_overhead_s_one_cell": round(med["grade_one"] - med["nbconvert_one"], 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
        "backends": per_backend,
    }
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "overhead.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
