"""Peers side by side: `nbgrader autograde` against one batch `grader grade`, same corpus, same checks.

    .venv/bin/python bench/peers.py [--runs 1] [--nbgrader-venv /opt/grader/peer-tools]

The corpus (bench/peer_corpus): an nbgrader-format assignment of three small numpy questions
(solution cells, autograded test cells with hidden tests) and 20 student notebooks with a spread of
right and wrong answers, plus the same checks written as a grader coursework (rubric + hidden suite).
nbgrader runs from a virtualenv of its own, never the project's (scripts/ensure_peer_tools.sh, pinned there).
Both serial: nbgrader autogrades the 20 in one process; grader grades the folder of 20 in one batch,
sandbox on (the settings' backend). Reported: wall time and CPU-seconds per notebook (this process's
children, as the kernel accounts them once they are reaped), and the scores compared notebook by
notebook (the script fails if any differ). Runs alternate when ``--runs`` > 1; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import peer_corpus as corpus

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET = 1 / 3  # grader's wall time per notebook at most a third of nbgrader's (issue 13)


def ensure_nbgrader(venv: Path) -> Path:
    """nbgrader (and otter-grader) in a virtualenv of their own: scripts/ensure_peer_tools.sh, the same
    one the agreement test (tests/importers) uses; a no-op when it is already there."""
    subprocess.run(["bash", str(REPO / "scripts" / "ensure_peer_tools.sh"), str(venv)], check=True)
    return venv


def measured(cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall s, CPU s of the command and its reaped descendants, stdout); exits on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0,):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, cpu, proc.stdout


def run_nbgrader(venv: Path, work: Path) -> tuple[float, float, dict[str, float]]:
    course = work / "course"
    shutil.rmtree(course, ignore_errors=True)
    corpus.write_nbgrader_course(course)
    env = {"PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}  # nbgrader runs `alembic` from its own venv
    nbgrader = str(venv / "bin" / "nbgrader")
    measured([nbgrader, "generate_assignment", corpus.ASSIGNMENT, "--force"], cwd=course, env=env)
    wall, cpu, _ = measured([nbgrader, "autograde", corpus.ASSIGNMENT, "--force"], cwd=course, env=env)
    script = (
        "import json, sys\nfrom nbgrader.api import Gradebook\n"
        f"with Gradebook('sqlite:///{course}/gradebook.db') as gb:\n"
        f"    print(json.dumps({{s.student.id: s.score for s in gb.assignment_submissions({corpus.ASSIGNMENT!r})}}))\n"
    )
    _, _, out = measured([str(venv / "bin" / "python"), "-c", script], cwd=course, env=env)
    return wall, cpu, json.loads(out)


def run_grader(work: Path) -> tuple[float, float, dict[str, float]]:
    rubrics, folder = work / "rubrics", work / "submissions"
    shutil.rmtree(rubrics, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    corpus.write_grader_coursework(rubrics)
    corpus.write_student_folder(folder)
    wall, cpu, out = measured(
        [str(BIN / "grader"), "grade", str(folder), "--coursework", corpus.COURSEWORK, "--json"],
        env={"GRADER_RUBRICS_DIR": str(rubrics)},
    )
    scores = {}
    for line in out.splitlines():
        result = json.loads(line)
        if result["status"] != "graded":
            sys.exit(f"grader: {result['path']} ended in error: {result['error']}")
        scores[Path(result["path"]).stem] = result["score"]
    return wall, cpu, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--nbgrader-venv", type=Path, default=Path("/opt/grader/peer-tools"))
    args = parser.parse_args()
    venv = ensure_nbgrader(args.nbgrader_venv)
    n = len(corpus.STUDENTS)
    expected = corpus.expected_scores()
    results: dict[str, list[tuple[float, float]]] = {"nbgrader": [], "grader": []}
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        work = Path(tmp)
        for run in range(args.runs):
            for name in ("nbgrader", "grader") if run % 2 == 0 else ("grader", "nbgrader"):
                wall, cpu, scores = run_nbgrader(venv, work) if name == "nbgrader" else run_grader(work)
                differ = {s: (scores.get(s), expected[s]) for s in expected if scores.get(s) != expected[s]}
                if differ:
                    sys.exit(f"{name}: scores differ from the expected ones (got, expected): {differ}")
                results[name].append((wall, cpu))
                print(f"run {run + 1}: {name:8s} {wall / n:6.2f} s wall, {cpu / n:6.2f} CPU-s a notebook", flush=True)
    per = {
        k: (statistics.median(w for w, _ in v) / n, statistics.median(c for _, c in v) / n) for k, v in results.items()
    }
    ratio = per["grader"][0] / per["nbgrader"][0]
    print(f"\n{n} notebooks, serial, median of {args.runs} run(s); scores identical notebook by notebook")
    for name, (wall, cpu) in per.items():
        print(f"  {name:8s} {wall:6.2f} s wall a notebook, {cpu:6.2f} CPU-s a notebook")
    print(
        f"  grader/nbgrader wall: {ratio:.2f}x (target at most {TARGET:.2f}x): {'met' if ratio <= TARGET else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
