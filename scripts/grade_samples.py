"""`make run`: grade the sample CW1 submissions on embedded defaults and print their marks.

The samples are the reference solution, the blank skeleton and the student-style submissions of
tests/cw1_submissions.py (each with the mark it must get).
"""

from __future__ import annotations

import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import nbformat  # noqa: E402
from cw1_submissions import SUBMISSIONS  # noqa: E402

from grader.grading.pipeline import grade_submission  # noqa: E402
from grader.rubrics.loader import load_coursework  # noqa: E402
from grader.settings import get_settings  # noqa: E402
from workers.judge.launcher import SubprocessJudge  # noqa: E402


def main() -> int:
    settings = get_settings()
    cw = load_coursework("cw1", settings)
    with tempfile.TemporaryDirectory() as tmp:
        samples: list[tuple[str, Path, str]] = [("reference solution", cw.solution, f"{cw.rubric.auto_max_score:g}")]
        for name, (nb, expected) in SUBMISSIONS.items():
            path = Path(tmp) / f"{name}.ipynb"
            nbformat.write(nb, path)
            want = f"{expected.score:g}" if expected.score is not None else "{:g}-{:g}".format(*expected.score_range)
            samples.append((name, path, want))
        print(f"grading {len(samples)} CW1 submissions (2 at a time)...", flush=True)
        with ThreadPoolExecutor(max_workers=2) as pool:
            reports = list(pool.map(lambda s: grade_submission(s[1], cw, settings, judge=SubprocessJudge()), samples))
    width = max(len(s[0]) for s in samples)
    print(f"{'submission'.ljust(width)}  auto score        expected  status")
    for (name, _, want), report in zip(samples, reports, strict=True):
        got = f"{report.score:g}/{report.auto_max_score:g}"
        status = report.status if report.status == "graded" else f"error: {report.error}"
        print(f"{name.ljust(width)}  {got.ljust(16)}  {want.ljust(8)}  {status}  [{report.duration_s:.0f}s]")
    return 0 if all(r.status == "graded" for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
