"""The peer tools grading the agreement corpus themselves: nbgrader (``generate_assignment`` then
``autograde`` in a course folder, scores from its gradebook) and Otter-Grader (``otter assign`` then
its grading API, no Docker). Both run from their own virtualenv (scripts/ensure_peer_tools.sh), never
this project's: each tool's part is a small script run by that venv's Python, answering JSON.

Both get a per-cell timeout (nbgrader's own ``Execute.timeout``; Otter has none, so the script gives
its executor the same one) and go on after it, as nbgrader does by default: a looping cell is
interrupted and the notebook carries on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

from peer_corpus import agreement as corpus  # noqa: E402

PEER_TOOLS = Path(os.environ.get("GRADER_PEER_TOOLS", "/opt/grader/peer-tools"))
# A looping cell costs each tool this much (nbgrader's default is 30). Not less: on a loaded machine
# Otter's first cell (``import otter``) alone took over 5 s and was cut, losing the whole notebook.
CELL_TIMEOUT_S = 15


@dataclass
class ToolRun:
    tool: str
    scores: dict[str, dict[str, float]]  # student -> question id -> score
    seconds: float  # grading the 20 notebooks (not the assignment's set-up)
    setup_seconds: float  # generate_assignment / otter assign
    regraded: list[str] = field(default_factory=list)  # graded a second time (see grade_otter)


def ensure_peer_tools(venv: Path = PEER_TOOLS) -> Path:
    """The tools' venv (made by scripts/ensure_peer_tools.sh if missing; a no-op when there)."""
    subprocess.run(["bash", str(REPO / "scripts" / "ensure_peer_tools.sh"), str(venv)], check=True)
    return venv


def _run(venv: Path, args: list[str], *, cwd: Path, timeout: float) -> str:
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}  # nbgrader runs its own alembic
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


# -- nbgrader ----------------------------------------------------------------------------------------

NBGRADER_SCORES = """\
import json, sys
from nbgrader.api import Gradebook
root, assignment, notebook, grade_ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
out = {}
with Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
    for sub in gb.assignment_submissions(assignment):
        out[sub.student.id] = {
            g: gb.find_grade(g, notebook, assignment, sub.student.id).score for g in grade_ids
        }
print(json.dumps(out))
"""


def grade_nbgrader(corpus_dir: Path, work: Path, venv: Path = PEER_TOOLS) -> ToolRun:
    """``nbgrader autograde`` of the 20 notebooks in a temporary course folder."""
    base = corpus.base
    course = work / "nbgrader-course"
    shutil.rmtree(course, ignore_errors=True)
    students = ", ".join(f"{{'id': '{s.name}'}}" for s in corpus.STUDENTS)
    (course / "source" / base.ASSIGNMENT).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.course_id = 'agreement'\nc.CourseDirectory.root = {str(course)!r}\n"
        f"c.CourseDirectory.db_assignments = [{{'name': '{base.ASSIGNMENT}'}}]\n"
        f"c.CourseDirectory.db_students = [{students}]\n"
        f"c.Execute.timeout = {CELL_TIMEOUT_S}\n"
    )
    shutil.copy(corpus_dir / "nbgrader" / base.NOTEBOOK, course / "source" / base.ASSIGNMENT / base.NOTEBOOK)
    for s in corpus.STUDENTS:
        folder = course / "submitted" / s.name / base.ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy(corpus_dir / "nbgrader" / "students" / f"{s.name}.ipynb", folder / base.NOTEBOOK)
    nbgrader = str(venv / "bin" / "nbgrader")
    start = time.perf_counter()
    _run(venv, [nbgrader, "generate_assignment", base.ASSIGNMENT, "--force"], cwd=course, timeout=120)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    _run(venv, [nbgrader, "autograde", base.ASSIGNMENT, "--force"], cwd=course, timeout=600)
    seconds = time.perf_counter() - start
    grade_ids = ",".join(corpus.NBGRADER_ITEMS.values())
    out = _run(
        venv,
        [str(venv / "bin" / "python"), "-c", NBGRADER_SCORES, str(course), base.ASSIGNMENT, "ps1", grade_ids],
        cwd=course,
        timeout=60,
    )
    by_item = {v: k for k, v in corpus.NBGRADER_ITEMS.items()}
    scores = {s: {by_item[g]: float(v) for g, v in items.items()} for s, items in json.loads(out).items()}
    return ToolRun("nbgrader", scores, seconds, setup)


# -- Otter -------------------------------------------------------------------------------------------

OTTER_GRADE = textwrap.dedent(
    """\
    import json, sys, time
    from nbconvert.preprocessors import ExecutePreprocessor
    import otter.api

    # Otter sets no cell timeout: give its executor nbgrader's behaviour (interrupt, carry on).
    _init = ExecutePreprocessor.__init__
    def _init_with_timeout(self, *a, **k):
        _init(self, *a, **k)
        self.timeout, self.interrupt_on_timeout = {timeout}, True
    ExecutePreprocessor.__init__ = _init_with_timeout

    autograder, questions, paths = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
    out = {{}}
    for path in paths:
        results = otter.api.grade_submission(path, autograder, quiet=True)
        out[path] = {{q: (results.get_score(q) if q in results.results else None) for q in questions}}
    print(json.dumps(out))
    """
)


def grade_otter(corpus_dir: Path, work: Path, venv: Path = PEER_TOOLS) -> ToolRun:
    """``otter assign`` of the master, then Otter's grading API (no Docker) on each notebook."""
    assign = work / "otter-assign"
    shutil.rmtree(assign, ignore_errors=True)
    assign.mkdir(parents=True)
    shutil.copy(corpus_dir / "otter" / corpus.OTTER_NOTEBOOK, assign / corpus.OTTER_NOTEBOOK)
    start = time.perf_counter()
    _run(venv, [str(venv / "bin" / "otter"), "assign", corpus.OTTER_NOTEBOOK, "dist"], cwd=assign, timeout=300)
    setup = time.perf_counter() - start
    zips = sorted((assign / "dist" / "autograder").glob("*.zip"))
    if len(zips) != 1:
        raise RuntimeError(f"otter assign made {len(zips)} autograder zips: {zips}")
    paths = [str(corpus_dir / "otter" / "students" / f"{s.name}.ipynb") for s in corpus.STUDENTS]
    start = time.perf_counter()
    scores = _otter_grade(venv, zips[0], paths, work)
    seconds = time.perf_counter() - start
    # A notebook whose scores are not what it was built to score is graded once more: on a loaded
    # machine a cell can pass the timeout, and Otter then loses everything after it.
    again = [p for p in paths if scores[Path(p).stem] != corpus.expected("otter", corpus.BY_NAME[Path(p).stem])]
    if again:
        scores.update(_otter_grade(venv, zips[0], again, work))
    return ToolRun("otter", scores, seconds, setup, [Path(p).stem for p in again])


def _otter_grade(venv: Path, autograder: Path, paths: list[str], work: Path) -> dict[str, dict[str, float]]:
    script = OTTER_GRADE.format(timeout=CELL_TIMEOUT_S)
    out = _run(
        venv,
        [str(venv / "bin" / "python"), "-c", script, str(autograder), ",".join(corpus.QIDS), *paths],
        cwd=work,
        timeout=600,
    )
    return {
        Path(p).stem: {q: float(v) if v is not None else 0.0 for q, v in items.items()}
        for p, items in json.loads(out.strip().splitlines()[-1]).items()
    }


def grade_with(tool: str, corpus_dir: Path, work: Path, venv: Path = PEER_TOOLS) -> ToolRun:
    return (grade_nbgrader if tool == "nbgrader" else grade_otter)(corpus_dir, work, venv)


if __name__ == "__main__":  # grade the corpus with both tools and print their scores against expected
    import tempfile

    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        root = Path(tmp)
        corpus.write_corpus(root / "corpus")
        for name in sys.argv[1:] or ["nbgrader", "otter"]:
            run = grade_with(name, root / "corpus", root)
            n = len(corpus.STUDENTS)
            print(
                f"{name}: {run.seconds:.1f} s for {n} ({run.seconds / n:.2f} s a notebook), set-up {run.setup_seconds:.1f} s"
            )
            for s in corpus.STUDENTS:
                want = corpus.expected(name, s)
                got = run.scores.get(s.name)
                print(f"  {s.name} {s.kind:24s} {got} {'ok' if got == want else f'EXPECTED {want}'}")
