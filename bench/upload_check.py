"""An upload's check, forked from a template against started as a new interpreter, same run.

    .venv/bin/python bench/upload_check.py [--checks 20] [--cells 20]

Every upload is checked in a child process with limits (grader/submissions/upload_check.py), at
the deadline the busiest path there is. Measured here, for ``--checks`` checks of one notebook of
``--cells`` code cells in a row, each way in turn, twice (the median of the two is reported): wall
time per check, and CPU-seconds per check (the children's, as the kernel accounts them once they
are reaped: a new interpreter's are this process's children, a forked check's are the template's,
read from /proc/TEMPLATE/stat). The template's own start (once per API process) is left out, as
it is paid once and not per upload.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from grader.processes.forkserver import shared_server
from grader.rubrics.model import Rubric
from grader.settings import ExecutionLimits
from grader.submissions import upload_check
from grader.submissions.upload_check import CheckBounds, check_upload

RUBRIC = {
    "coursework": "cwx",
    "title": "Check",
    "weight": 0.4,
    "total_points": 1,
    "submission": {"notebook": "cwx.ipynb", "max_mb": 64},
    "mode": "full",
    "parts": [{"id": "1", "title": "One", "points": 1}],
    "items": [{"id": "a", "part": "1", "title": "A", "points": 1, "manual": True}],
}
TICK = os.sysconf("SC_CLK_TCK")


def _template_children_cpu() -> float:
    """CPU-seconds of the template's reaped children (the forked checks)."""
    server = shared_server(upload_check.TEMPLATE)
    fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / TICK  # cutime, cstime


def _own_children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(upload: Path, folder: Path, checks: int, fork: bool) -> tuple[float, float]:
    rubric = Rubric.model_validate(RUBRIC)
    bounds = CheckBounds(cpu_s=60, timeout_s=120, memory_mb=2048, fork=fork)
    check_upload(upload, rubric, folder / "first", ExecutionLimits(), bounds)  # the template's start: not counted
    cpu = _template_children_cpu if fork else _own_children_cpu
    cpu0, t0 = cpu(), time.perf_counter()
    for i in range(checks):
        check_upload(upload, rubric, folder / str(i), ExecutionLimits(), bounds)
    return (time.perf_counter() - t0) / checks, (cpu() - cpu0) / checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=20)
    parser.add_argument("--cells", type=int, default=20)
    args = parser.parse_args()
    results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="bench-upload-check-") as tmp:
        upload = Path(tmp) / "upload.ipynb"
        cells = [nbformat.v4.new_code_cell(f"x{i} = {i}") for i in range(args.cells)]
        nbformat.write(nbformat.v4.new_notebook(cells=cells), upload)
        for run in range(2):
            for fork in (False, True):
                folder = Path(tmp) / f"{run}-{fork}"
                folder.mkdir()
                results[fork].append(measure(upload, folder, args.checks, fork))
    cold, forked = ((statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for v in results.values())
    print(f"{args.checks} checks of a {args.cells}-cell notebook, each way twice (medians)")
    print(f"  new interpreter  {cold[0] * 1000:7.0f} ms wall  {cold[1] * 1000:6.0f} ms CPU a check")
    print(f"  forked           {forked[0] * 1000:7.0f} ms wall  {forked[1] * 1000:6.0f} ms CPU a check")
    print(f"  forked/new: wall {forked[0] / cold[0]:.2f}x, CPU {forked[1] / cold[1]:.2f}x")


if __name__ == "__main__":
    main()
