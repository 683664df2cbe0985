"""A worker's cost per job beyond the notebook's own execution, against `jupyter nbconvert --execute`.

    .venv/bin/python bench/overhead.py [--runs 5] [--backends bwrap,docker] [--warm 1]

One long-lived process grades, as a worker does: for each job, from the staged upload to the
marks (``grade_submission``: intake, job file, judge, sandbox, runner, kernel, notebook, hidden
suite, result). Its cost beyond the notebook is that time minus the notebook's own execution (the
runner's ``duration_s``). The baseline, interleaved in the same run: `jupyter nbconvert --execute`
of the same notebook, threads pinned as in the sandbox, whole (interpreter, kernel, notebook).

Two one-cell notebooks: one imports numpy, one torch. Each graded cold (pool size 0: a fresh judge,
sandbox, runner and kernel on the job's path, as before) and warm (``WarmJudges``: the job takes a
judge whose sandbox, kernel, numpy and torch are already up; the bench waits for the pool to be
ready before each job, so this is the latency a student sees when a worker is free; the refill's
CPU is counted by bench/throughput.py). Target: overhead at or below 0.5x nbconvert.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _tiny_cw import REPO, tiny_coursework

from grader.grading.limits import effective_limits
from grader.grading.pipeline import grade_submission
from grader.settings import get_settings
from workers.judge.warm_pool import WarmJudges

BIN = Path(sys.executable).parent
PINNED = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
TARGET_RATIO = 0.5


def nbconvert_s(notebook: Path, out_dir: Path) -> float:
    cmd = [str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute", "--output-dir", str(out_dir)]
    start = time.perf_counter()
    proc = subprocess.run([*cmd, str(notebook)], env={**os.environ, **PINNED}, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"nbconvert failed: {proc.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backends", default="bwrap,docker")
    parser.add_argument("--warm", type=int, default=1, help="the warm pool's size")
    args = parser.parse_args()
    base = get_settings()
    samples: dict[str, list[float]] = {}
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for kind in ("numpy", "torch"):
            cw, notebook = tiny_coursework(root, kind)
            for backend in [b for b in args.backends.split(",") if b]:
                settings = base.model_copy(update={"sandbox_backend": backend})
                limits, _ = effective_limits(cw.rubric, settings)
                for mode, size in (("cold", 0), ("warm", args.warm)):
                    with WarmJudges(settings, size) as judges:
                        if size:
                            judges.warm_for(backend, settings.runtime_dir, limits)
                        for i in range(args.runs):
                            judges.wait_ready()  # the refill's warm-up slows neither side
                            base_s = nbconvert_s(notebook, root)
                            start = time.perf_counter()
                            report = grade_submission(notebook, cw, settings, judge=judges)
                            total = time.perf_counter() - start
                            if report.status != "graded" or report.score != 1:
                                sys.exit(f"{kind}/{backend}/{mode}: {report.status} {report.score} {report.error}")
                            own = float((report.execution or {}).get("duration_s") or 0.0)
                            key = f"{kind}/{backend}/{mode}"
                            for name, value in (("nbconvert", base_s), ("job", total), ("notebook", own)):
                                samples.setdefault(f"{key}/{name}", []).append(value)
                            samples.setdefault(f"{key}/overhead", []).append(total - own)
                            print(f"{key} run {i + 1}: job {total:.2f}s (notebook {own:.2f}s), nbconvert {base_s:.2f}s",
                                  file=sys.stderr)  # fmt: skip
                        if size:
                            assert judges.warm_jobs == args.runs, (judges.warm_jobs, judges.cold_jobs)
                    med = {
                        n: statistics.median(samples[f"{key}/{n}"])
                        for n in ("nbconvert", "job", "notebook", "overhead")
                    }
                    results[key] = {
                        **{f"{n}_s": round(v, 3) for n, v in med.items()},
                        "overhead_vs_nbconvert": round(med["overhead"] / med["nbconvert"], 3),
                    }
    report = {
        "runs": args.runs,
        "warm_pool": args.warm,
        "target_overhead_vs_nbconvert": TARGET_RATIO,
        "results": results,
        "meets_target_warm": all(
            v["overhead_vs_nbconvert"] <= TARGET_RATIO for k, v in results.items() if k.endswith("/warm")
        ),
    }
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "overhead.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
