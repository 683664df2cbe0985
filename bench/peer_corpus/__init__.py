"""One corpus for comparing with peers: an nbgrader-format assignment of three small numpy questions,
20 student notebooks with a spread of right and wrong answers, and the same checks written as a grader
coursework (rubric + hidden suite). Everything is generated here, deterministically.

    from peer_corpus import write_nbgrader_course, write_grader_coursework, STUDENTS, expected_scores

The source notebook carries nbgrader's cell metadata: solution cells (``### BEGIN SOLUTION``) and
autograded test cells whose hidden part (``### BEGIN HIDDEN TESTS``) nbgrader strips on release and
puts back at autograde. A test cell scores all its points or none; so does each grader item (one
hidden test each, no partial credit), on the same inputs, so the two must agree notebook by notebook.
The source also has a manual written answer (``q4_answer``), which neither side scores automatically.

The agreement corpus (``agreement.py``: the same questions as an Otter master notebook too, and 20
students of typical kinds per tool) builds on these questions and their answer variants.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

ASSIGNMENT = "ps1"
NOTEBOOK = "ps1.ipynb"
COURSEWORK = "peers"


@dataclass(frozen=True)
class Question:
    id: str
    points: int
    prompt: str
    answers: dict[str, str]  # variant -> the function's source: "right", "wrong", ... ("missing": the stub)
    visible: str  # the test cell's visible asserts
    hidden: str  # its hidden asserts (stripped on release)


QUESTIONS = [
    Question(
        id="q1",
        points=1,
        prompt="Write `normalize(v)`: `v` scaled to unit Euclidean length.",
        answers={
            "right": "def normalize(v):\n    v = np.asarray(v, dtype=float)\n    return v / np.linalg.norm(v)",
            "wrong": "def normalize(v):\n    v = np.asarray(v, dtype=float)\n    return v / np.sum(np.abs(v))",
            "alt": "def normalize(v):\n    v = np.array(v, dtype=float)\n    return v / np.sqrt(np.sum(np.square(v)))",
            "wrong2": "def normalize(v):\n    v = np.asarray(v, dtype=float)\n    return v / np.max(np.abs(v))",
        },
        visible="assert np.allclose(normalize([3.0, 4.0]), [0.6, 0.8])",
        hidden=(
            "assert np.allclose(np.linalg.norm(normalize(np.arange(1.0, 6.0))), 1.0)\n"
            "assert np.allclose(normalize([0.0, -2.0, 0.0]), [0.0, -1.0, 0.0])"
        ),
    ),
    Question(
        id="q2",
        points=2,
        prompt="Write `moving_average(x, k)`: the mean of each window of `k` consecutive values (length `len(x) - k + 1`).",
        answers={
            "right": (
                "def moving_average(x, k):\n    x = np.asarray(x, dtype=float)\n"
                "    c = np.cumsum(np.concatenate([[0.0], x]))\n    return (c[k:] - c[:-k]) / k"
            ),
            "wrong": (  # off by one: drops the last window
                "def moving_average(x, k):\n    x = np.asarray(x, dtype=float)\n"
                "    return np.array([x[i:i + k].mean() for i in range(len(x) - k)])"
            ),
            "alt": "def moving_average(x, k):\n    return np.convolve(np.asarray(x, dtype=float), np.ones(k) / k, mode='valid')",
            "wrong2": (  # the wrong convolution mode: as long as x
                "def moving_average(x, k):\n    return np.convolve(np.asarray(x, dtype=float), np.ones(k) / k, mode='same')"
            ),
        },
        visible="assert np.allclose(moving_average([1, 2, 3, 4], 2), [1.5, 2.5, 3.5])",
        hidden=(
            "assert np.allclose(moving_average(np.arange(10), 3), np.arange(1, 9))\n"
            "assert np.allclose(moving_average([5.0, 7.0], 2), [6.0])"
        ),
    ),
    Question(
        id="q3",
        points=2,
        prompt="Write `pairwise_distances(A, B)`: the matrix of Euclidean distances between the rows of `A` and of `B`.",
        answers={
            "right": (
                "def pairwise_distances(A, B):\n    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)\n"
                "    return np.sqrt(((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=-1))"
            ),
            "wrong": (  # squared distances
                "def pairwise_distances(A, B):\n    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)\n"
                "    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=-1)"
            ),
            "alt": (
                "def pairwise_distances(A, B):\n    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)\n"
                "    return np.linalg.norm(A[:, None, :] - B[None, :, :], axis=-1)"
            ),
            "wrong2": (  # Manhattan distances
                "def pairwise_distances(A, B):\n    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)\n"
                "    return np.abs(A[:, None, :] - B[None, :, :]).sum(axis=-1)"
            ),
            "wrong3": (  # transposed: B's rows against A's
                "def pairwise_distances(A, B):\n    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)\n"
                "    return np.sqrt(((B[:, None, :] - A[None, :, :]) ** 2).sum(axis=-1))"
            ),
        },
        visible="assert pairwise_distances([[0.0, 0.0]], [[3.0, 4.0]]).shape == (1, 1)",
        hidden=(
            "assert np.allclose(pairwise_distances([[0.0, 0.0]], [[3.0, 4.0]]), [[5.0]])\n"
            "assert np.allclose(pairwise_distances(np.arange(6.0).reshape(3, 2), np.arange(6.0).reshape(3, 2)).diagonal(), 0.0)\n"
            "assert np.allclose(pairwise_distances(np.arange(6.0).reshape(3, 2), [[0.0, 1.0]])[:, 0], [0.0, np.sqrt(8.0), np.sqrt(32.0)])"
        ),
    ),
]
# The manual question: a written answer a marker grades (nbgrader: a markdown cell with grade and solution).
MANUAL_ID, MANUAL_POINTS = "q4", 2
MANUAL_PROMPT = "In two sentences: why does a cumulative sum make `moving_average` fast for a large `k`?"
MANUAL_ANSWER = "Each window's sum is one subtraction of two prefix sums, so the cost is O(n), not O(nk)."
MISSING = "raise NotImplementedError()"
VARIANTS = ("right", "wrong", "missing")
STUDENTS = [f"student{i:02d}" for i in range(1, 21)]


def _solution_cell(q: Question) -> str:
    head, _, body = q.answers["right"].partition("\n")
    return f"{head}\n    ### BEGIN SOLUTION\n{textwrap.indent(textwrap.dedent(body), '    ')}\n    ### END SOLUTION"


def _meta(grade_id: str, *, solution: bool, grade: bool, points: int = 0, locked: bool = False) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook() -> nbformat.NotebookNode:
    """The instructor's version, nbgrader metadata on every graded cell."""
    cells = [
        nbformat.v4.new_markdown_cell("# Problem set 1: numpy warm-up"),
        nbformat.v4.new_code_cell(
            "import numpy as np", metadata=_meta("imports", solution=False, grade=False, locked=True)
        ),
    ]
    for q in QUESTIONS:
        cells.append(nbformat.v4.new_markdown_cell(f"## {q.id}\n{q.prompt}"))
        cells.append(
            nbformat.v4.new_code_cell(_solution_cell(q), metadata=_meta(f"{q.id}_answer", solution=True, grade=False))
        )
        test = f"{q.visible}\n### BEGIN HIDDEN TESTS\n{q.hidden}\n### END HIDDEN TESTS"
        cells.append(
            nbformat.v4.new_code_cell(
                test, metadata=_meta(f"{q.id}_test", solution=False, grade=True, points=q.points, locked=True)
            )
        )
    cells.append(nbformat.v4.new_markdown_cell(f"## {MANUAL_ID}\n{MANUAL_PROMPT}"))
    cells.append(
        nbformat.v4.new_markdown_cell(
            MANUAL_ANSWER,
            metadata=_meta(f"{MANUAL_ID}_answer", solution=True, grade=True, points=MANUAL_POINTS),
        )
    )
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def variants_of(index: int) -> dict[str, str]:
    """Student ``index`` (0..19)'s answer to each question: a spread over right, wrong and missing,
    with 4 students all right and one all missing."""
    if index < 4:
        return {q.id: "right" for q in QUESTIONS}
    if index == 19:
        return {q.id: "missing" for q in QUESTIONS}
    i = index - 4
    return {q.id: VARIANTS[(i // 3**n) % 3] for n, q in enumerate(QUESTIONS)}


def student_notebook(index: int) -> nbformat.NotebookNode:
    """The released notebook (hidden tests stripped, solutions replaced) as student ``index`` filled it in."""
    nb = source_notebook()
    chosen = variants_of(index)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id", "")
        if meta.get("solution") and cell.cell_type == "markdown":
            cell.source = "YOUR ANSWER HERE"  # as nbgrader releases a written answer
        elif meta.get("solution"):
            q = next(q for q in QUESTIONS if grade_id == f"{q.id}_answer")
            variant = chosen[q.id]
            cell.source = (
                q.answers[variant]
                if variant != "missing"
                else f"{q.answers['right'].partition(chr(10))[0]}\n    {MISSING}"
            )
        elif meta.get("grade") and "### BEGIN HIDDEN TESTS" in cell.source:
            cell.source = cell.source.partition("### BEGIN HIDDEN TESTS")[0].rstrip()
    return nb


def expected_scores() -> dict[str, float]:
    """What each student should score (right answers only)."""
    return {
        name: float(sum(q.points for q in QUESTIONS if variants_of(i)[q.id] == "right"))
        for i, name in enumerate(STUDENTS)
    }


def write_nbgrader_course(root: Path) -> Path:
    """An nbgrader course folder: config, source/ps1/ps1.ipynb and submitted/<student>/ps1/ps1.ipynb."""
    root.mkdir(parents=True, exist_ok=True)
    students = ", ".join(f"{{'id': '{s}'}}" for s in STUDENTS)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.course_id = 'bench'\nc.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.db_assignments = [{{'name': '{ASSIGNMENT}'}}]\n"
        f"c.CourseDirectory.db_students = [{students}]\n"
        "c.Execute.timeout = 60\n"
    )
    source = root / "source" / ASSIGNMENT
    source.mkdir(parents=True, exist_ok=True)
    nbformat.write(source_notebook(), source / NOTEBOOK)
    for i, name in enumerate(STUDENTS):
        folder = root / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(student_notebook(i), folder / NOTEBOOK)
    return root


def write_student_folder(folder: Path) -> list[Path]:
    """The 20 notebooks side by side, ``<student>.ipynb``, for ``grader grade FOLDER`` (name order = student order)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(STUDENTS):
        path = folder / f"{name}.ipynb"
        nbformat.write(student_notebook(i), path)
        paths.append(path)
    return paths


def write_grader_coursework(rubrics_dir: Path) -> Path:
    """The same checks as a grader coursework: one item per nbgrader test cell, all or nothing, its
    hidden test running the test cell's visible and hidden asserts in the student's kernel."""
    cw = rubrics_dir / COURSEWORK
    (cw / "hidden").mkdir(parents=True, exist_ok=True)
    total = sum(q.points for q in QUESTIONS)
    items = "\n".join(
        f'  - {{id: {q.id}, part: "1", title: {q.id}, points: {q.points}, '
        f'auto: {{tests: ["test_peers.py::test_{q.id}"], partial: false}}}}'
        for q in QUESTIONS
    )
    (cw / "rubric.yaml").write_text(
        f"coursework: {COURSEWORK}\ntitle: Peers side by side\nweight: 0.1\ntotal_points: {total}\n"
        f"mode: definitions\nsubmission: {{notebook: {NOTEBOOK}}}\n"
        f'parts: [{{id: "1", title: numpy, points: {total}}}]\nitems:\n{items}\n'
    )
    tests = ['"""The nbgrader test cells, each run in the student\'s kernel (asserts and all)."""\n\n']
    for q in QUESTIONS:
        code = f"{q.visible}\n{q.hidden}\nok = True"
        tests.append(f"\ndef test_{q.id}(student):\n    assert student.run({code!r}, outputs=['ok'])['ok'] is True\n")
    (cw / "hidden" / "test_peers.py").write_text("".join(tests))
    (cw / "solution.ipynb").write_text(nbformat.writes(student_notebook(0)))
    (cw / "skeleton.ipynb").write_text(nbformat.writes(student_notebook(19)))
    return rubrics_dir
