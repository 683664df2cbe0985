"""The agreement corpus: one assignment per peer tool in that tool's own format, and 20 student
notebooks for each, generated from the solution. Used by tests/importers/test_agreement.py (grader
against nbgrader and Otter-Grader) and written out by ``python bench/peer_corpus/agreement.py OUT``.

- nbgrader: the package's source notebook (``ps1.ipynb``: three autograded test cells with hidden
  tests, a manual written answer), items named by ``grade_id`` (``q1_test`` ...).
- Otter: a master notebook (``agree.ipynb``) in the format ``otter assign`` 7 reads: raw ``# BEGIN
  QUESTION`` blocks, solutions, test cells whose recorded output is the expected one (each an OK-format
  case, some hidden, points per case) and a manual question; items named by question (``q1`` ...).

Each student is one kind (right, wrong in several typical ways, blank, crashing, looping, a syntax
error, test cells replaced, a monkeypatched checker), and ``expected`` says what each tool must give
every question by how the notebook was built: the answers' own results, computed here by running the
tools' checks against each answer in this process.
"""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

if __package__ in (None, ""):  # run as a script: the package's folder's parent on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import peer_corpus as base

QIDS = [q.id for q in base.QUESTIONS]
NBGRADER_ITEMS = {q.id: f"{q.id}_test" for q in base.QUESTIONS}  # the items' ids: nbgrader's grade_id
OTTER_NAME = "agree"
OTTER_NOTEBOOK = f"{OTTER_NAME}.ipynb"

# -- the students ------------------------------------------------------------------------------------

LOOP = "while True:\n    pass\n"
CRASH = "scale = undefined_name  # a NameError before the definition\n"
NBGRADER_TAMPER = "np.allclose = lambda *a, **k: True  # every allclose-based check passes\n"
OTTER_TAMPER = (
    "import doctest\ndoctest.OutputChecker.check_output = lambda self, want, got, flags: True  # every case passes\n"
)


@dataclass(frozen=True)
class Student:
    name: str
    kind: str  # what the notebook was built to show (the agreement table's row label)
    answers: dict[str, str]  # question id -> variant of base.QUESTIONS' answers ("missing": the stub)
    loop_in: str | None = None  # `while True: pass` before this question's definition
    crash_in: str | None = None  # a NameError before this question's definition
    syntax_in: str | None = None  # this question's cell does not parse
    tests: str = "kept"  # "kept" | "replaced" (test cells' source replaced by `pass`) | "deleted"
    tamper: bool = False  # the tool's checker monkeypatched in the first answer cell
    noise: bool = field(default=False)  # extra cells: prints, a helper, a markdown note


def _all(variant: str, **over: str) -> dict[str, str]:
    return {q: over.get(q, variant) for q in QIDS}


STUDENTS = [
    Student("s01", "right", _all("right")),
    Student("s02", "right, other code", _all("alt")),
    Student("s03", "wrong q1 (L1 norm)", _all("right", q1="wrong")),
    Student("s04", "wrong q2 (off by one)", _all("right", q2="wrong")),
    Student("s05", "wrong q3 (squared)", _all("right", q3="wrong")),
    Student("s06", "all wrong", _all("wrong")),
    Student("s07", "wrong q1 (max norm)", _all("right", q1="wrong2")),
    Student("s08", "wrong q2 (mode same)", _all("right", q2="wrong2")),
    Student("s09", "wrong q3 (Manhattan)", _all("right", q3="wrong2")),
    Student("s10", "wrong q3 (transposed)", _all("alt", q3="wrong3")),
    Student("s11", "q2 not done", _all("right", q2="missing")),
    Student("s12", "blank (release)", _all("missing")),
    Student("s13", "mixed", {"q1": "wrong2", "q2": "alt", "q3": "wrong"}),
    Student("s14", "crash in q2", _all("right"), crash_in="q2"),
    Student("s15", "loop in q2", _all("right"), loop_in="q2"),
    Student("s16", "syntax error q3", _all("right"), syntax_in="q3"),
    Student("s17", "tests replaced", _all("wrong", q3="right"), tests="replaced"),
    Student("s18", "tests deleted", _all("wrong", q3="right"), tests="deleted"),
    Student("s19", "monkeypatch", _all("wrong"), tamper=True),
    Student("s20", "right, noisy", _all("right"), noise=True),
]
BY_NAME = {s.name: s for s in STUDENTS}


def _question(qid: str) -> base.Question:
    return next(q for q in base.QUESTIONS if q.id == qid)


def answer_source(student: Student, qid: str, *, tamper: str = "") -> str:
    """The student's answer cell for question ``qid``."""
    q = _question(qid)
    variant = student.answers[qid]
    head = q.answers["right"].partition("\n")[0]
    body = q.answers[variant] if variant != "missing" else f"{head}\n    {base.MISSING}"
    if student.syntax_in == qid:
        body = body.replace("):", ")", 1)  # the def line loses its colon
    prefix = ""
    if student.loop_in == qid:
        prefix += LOOP
    if student.crash_in == qid:
        prefix += CRASH
    if student.tamper and qid == QIDS[0]:
        prefix += tamper
    return prefix + body


# -- nbgrader ----------------------------------------------------------------------------------------


def nbgrader_source() -> nbformat.NotebookNode:
    """The instructor's source notebook (base.source_notebook: nbgrader metadata on every graded cell)."""
    return base.source_notebook()


def nbgrader_release() -> nbformat.NotebookNode:
    """What ``nbgrader generate_assignment`` hands out: stubs, hidden tests stripped."""
    return base.student_notebook(19)  # base's student 19 answers nothing: the release itself


def nbgrader_student(student: Student) -> nbformat.NotebookNode:
    nb = nbgrader_release()
    cells = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        qid = grade_id.partition("_")[0]
        if grade_id.endswith("_answer") and qid in QIDS:
            cell.source = answer_source(student, qid, tamper=NBGRADER_TAMPER)
        elif grade_id.endswith("_test"):
            if student.tests == "deleted":
                continue
            if student.tests == "replaced":
                cell.source = "pass  # the student's own check"
        cells.append(cell)
        if student.noise and grade_id.endswith("_answer") and qid in QIDS:
            cells.extend(_noise_cells(qid))
    nb.cells = cells
    return nb


def _noise_cells(qid: str) -> list[nbformat.NotebookNode]:
    return [
        nbformat.v4.new_markdown_cell(f"My notes on {qid}."),
        nbformat.v4.new_code_cell(f"print('trying {qid}')\nhelper_{qid} = [i * i for i in range(5)]\nhelper_{qid}"),
    ]


def _nbgrader_cell_passes(q: base.Question, variant: str) -> bool:
    """nbgrader's verdict on a test cell: its visible and hidden asserts all pass (no exception)."""
    ns = _namespace(q, variant)
    try:
        exec(f"{q.visible}\n{q.hidden}", ns)
    except Exception:
        return False
    return True


# -- Otter -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OtterCase:
    expr: str  # one doctest expression (``>>> expr``)
    points: int
    hidden: bool


# Each case's expected output is the right answer's repr, recorded as the master's test cell output.
OTTER_CASES: dict[str, list[OtterCase]] = {
    "q1": [
        OtterCase("normalize([3.0, 4.0]).round(6).tolist()", 1, False),
        OtterCase("round(float(np.linalg.norm(normalize(np.arange(1.0, 6.0)))), 6)", 1, True),
        OtterCase("normalize([0.0, -2.0, 0.0]).tolist()", 1, True),
    ],
    "q2": [
        OtterCase("moving_average([1, 2, 3, 4], 2).tolist()", 1, False),
        OtterCase("moving_average(np.arange(10), 3).round(6).tolist()", 1, True),
        OtterCase("len(moving_average([5.0, 7.0], 2))", 1, True),
    ],
    "q3": [
        OtterCase("pairwise_distances([[0.0, 0.0]], [[3.0, 4.0]]).shape", 1, False),
        OtterCase("pairwise_distances([[0.0, 0.0]], [[3.0, 4.0]]).tolist()", 1, True),
        OtterCase("pairwise_distances(np.arange(6.0).reshape(3, 2), [[0.0, 1.0]]).round(4).tolist()", 1, True),
    ],
}
OTTER_MANUAL_POINTS = base.MANUAL_POINTS


def _namespace(q: base.Question, variant: str) -> dict:
    ns: dict = {"np": np}
    if variant != "missing":
        exec(q.answers[variant], ns)
    return ns


def _otter_value(case: OtterCase, q: base.Question, variant: str) -> str | None:
    """The case's doctest output for this answer (the value's repr), None if it raises."""
    try:
        return repr(eval(case.expr, _namespace(q, variant)))
    except Exception:
        return None


def otter_expected_output(case: OtterCase, qid: str) -> str:
    out = _otter_value(case, _question(qid), "right")
    assert out is not None, case
    return out


def _raw(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_raw_cell(text)


def otter_master() -> nbformat.NotebookNode:
    """The master notebook for ``otter assign``: config, questions, solutions, tests with outputs."""
    cells = [
        _raw(
            "# ASSIGNMENT CONFIG\n"
            f"name: {OTTER_NAME}\n"
            "init_cell: true\ncheck_all_cell: false\nexport_cell: false\n"
            "run_tests: true\nsolutions_pdf: false\n"
            "generate: true\n"
            "tests:\n  files: false\n  ok_format: true\n"
        ),
        nbformat.v4.new_markdown_cell("# Problem set: numpy warm-up (Otter)"),
        nbformat.v4.new_code_cell("import numpy as np"),
    ]
    for q in base.QUESTIONS:
        cases = OTTER_CASES[q.id]
        cells += [
            _raw(f"# BEGIN QUESTION\nname: {q.id}\npoints: {[c.points for c in cases]}"),
            nbformat.v4.new_markdown_cell(f"**{q.id}.** {q.prompt}"),
            _raw("# BEGIN SOLUTION"),
            nbformat.v4.new_code_cell(_otter_solution(q)),
            _raw("# END SOLUTION"),
            _raw("# BEGIN TESTS"),
        ]
        for case in cases:
            cell = nbformat.v4.new_code_cell(("# HIDDEN\n" if case.hidden else "") + case.expr)
            cell.outputs = [
                nbformat.v4.new_output(
                    "execute_result", data={"text/plain": otter_expected_output(case, q.id)}, execution_count=1
                )
            ]
            cells.append(cell)
        cells += [_raw("# END TESTS"), _raw("# END QUESTION")]
    cells += [
        _raw(f"# BEGIN QUESTION\nname: {base.MANUAL_ID}\nmanual: true\npoints: {OTTER_MANUAL_POINTS}"),
        nbformat.v4.new_markdown_cell(f"**{base.MANUAL_ID}.** {base.MANUAL_PROMPT}"),
        _raw("# BEGIN SOLUTION"),
        nbformat.v4.new_markdown_cell(base.MANUAL_ANSWER),
        _raw("# END SOLUTION"),
        _raw("# END QUESTION"),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _otter_solution(q: base.Question) -> str:
    """The right answer, its body between Otter's solution markers (otter assign leaves ``...``)."""
    head, _, body = q.answers["right"].partition("\n")
    return f"{head}\n    # BEGIN SOLUTION\n{body}\n    # END SOLUTION"


def otter_release() -> nbformat.NotebookNode:
    """What ``otter assign`` hands out (its student notebook): Otter's init cell, each question's
    prompt, a stub and a ``grader.check`` cell, the manual question's answer cell."""
    cells = [
        nbformat.v4.new_code_cell(f'# Initialize Otter\nimport otter\ngrader = otter.Notebook("{OTTER_NOTEBOOK}")'),
        nbformat.v4.new_markdown_cell("# Problem set: numpy warm-up (Otter)"),
        nbformat.v4.new_code_cell("import numpy as np"),
    ]
    for q in base.QUESTIONS:
        head = q.answers["right"].partition("\n")[0]
        cells += [
            nbformat.v4.new_markdown_cell(f"**{q.id}.** {q.prompt}"),
            nbformat.v4.new_code_cell(f"{head}\n    ...", metadata={"tags": ["otter_answer_cell"]}),
            nbformat.v4.new_code_cell(f'grader.check("{q.id}")', metadata={"deletable": False, "editable": False}),
        ]
    cells += [
        nbformat.v4.new_markdown_cell(f"**{base.MANUAL_ID}.** {base.MANUAL_PROMPT}"),
        nbformat.v4.new_markdown_cell("_Type your answer here, replacing this text._"),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["otter"] = {"assignment_name": OTTER_NAME}
    return nb


def otter_student(student: Student) -> nbformat.NotebookNode:
    nb = otter_release()
    cells = []
    for cell in nb.cells:
        source = cell.source
        if cell.cell_type == "code" and source.startswith("grader.check("):
            if student.tests == "deleted":
                continue
            if student.tests == "replaced":
                cell.source = "pass  # the student's own check"
        elif cell.cell_type == "code" and "otter_answer_cell" in cell.metadata.get("tags", []):
            qid = next(q for q in QIDS if f"def {_question(q).answers['right'].split('(')[0][4:]}(" in source)
            cell.source = answer_source(student, qid, tamper=OTTER_TAMPER)
            cells.append(cell)
            if student.noise:
                cells.extend(_noise_cells(qid))
            continue
        cells.append(cell)
    nb.cells = cells
    return nb


# -- what each tool must give ------------------------------------------------------------------------


def _variant_in_effect(student: Student, qid: str) -> str:
    """The answer the checks see: a question whose cell loops, crashes or does not parse defines nothing."""
    if qid in (student.loop_in, student.crash_in, student.syntax_in):
        return "missing"
    return student.answers[qid]


def answer_scores(tool: str, student: Student) -> dict[str, float]:
    """Each question's score from the answers alone (what a checker out of the student's reach gives)."""
    scores = {}
    for q in base.QUESTIONS:
        variant = _variant_in_effect(student, q.id)
        if tool == "nbgrader":
            scores[q.id] = float(q.points) if _nbgrader_cell_passes(q, variant) else 0.0
        else:
            right = {c.expr: otter_expected_output(c, q.id) for c in OTTER_CASES[q.id]}
            scores[q.id] = float(
                sum(c.points for c in OTTER_CASES[q.id] if _otter_value(c, q, variant) == right[c.expr])
            )
    return scores


def tampered_scores(tool: str, student: Student) -> dict[str, float]:
    """What the tool gives once its checker is monkeypatched: every check passes that does not raise
    (nbgrader: an allclose assert on a wrong answer; Otter: a doctest case with wrong output)."""
    scores = {}
    for q in base.QUESTIONS:
        variant = _variant_in_effect(student, q.id)
        if tool == "nbgrader":
            ns = _namespace(q, variant)
            ns["np"] = _PatchedNumpy()
            try:
                exec(f"{q.visible}\n{q.hidden}", ns)
                scores[q.id] = float(q.points)
            except Exception:
                scores[q.id] = 0.0
        else:
            scores[q.id] = float(sum(c.points for c in OTTER_CASES[q.id] if _otter_value(c, q, variant) is not None))
    return scores


class _PatchedNumpy:
    """numpy as the tampering student leaves it: ``allclose`` always true."""

    def __getattr__(self, name: str):
        return (lambda *a, **k: True) if name == "allclose" else getattr(np, name)


def expected(tool: str, student: Student) -> dict[str, float]:
    """What ``tool`` ("nbgrader" or "otter") must give each auto question, by construction (measured
    against nbgrader 0.9.6 and otter-grader 7.0.0):

    - a monkeypatched checker: every check passes that does not raise;
    - nbgrader and deleted test cells: 0 for each (it grades the test cells it finds; it puts back the
      source of a test cell whose source was replaced, by its ``grade_id``, not a deleted cell);
    - Otter ignores the student's ``grader.check`` cells: it runs every test after the notebook;
    - a looping cell is interrupted at the per-cell timeout and the notebook carries on (nbgrader's
      default; the harness gives Otter, which has no timeout, the same).
    """
    if student.tamper:
        return tampered_scores(tool, student)
    if tool == "nbgrader" and student.tests == "deleted":
        return {q: 0.0 for q in QIDS}
    return answer_scores(tool, student)


def grader_expected(tool: str, student: Student) -> dict[str, float]:
    """What grader must give after import: the answers' own results, whatever the notebook did to the
    tests or the checker (its judge compares out of the student's reach and keeps its own tests)."""
    return answer_scores(tool, student)


def item_ids(tool: str) -> dict[str, str]:
    """Question id -> the item's id in the tool (and in grader after import)."""
    return NBGRADER_ITEMS if tool == "nbgrader" else {q: q for q in QIDS}


def max_scores(tool: str) -> dict[str, float]:
    if tool == "nbgrader":
        return {q.id: float(q.points) for q in base.QUESTIONS}
    return {q: float(sum(c.points for c in cases)) for q, cases in OTTER_CASES.items()}


# -- writing it out ----------------------------------------------------------------------------------


def write_corpus(root: Path) -> dict[str, Path]:
    """``root/nbgrader/{source/ps1.ipynb, students/sNN.ipynb}`` and ``root/otter/{agree.ipynb,
    students/sNN.ipynb}``; returns the two sources."""
    with contextlib.redirect_stdout(io.StringIO()):  # a noisy answer prints nothing here, but be sure
        nbg, ott = root / "nbgrader", root / "otter"
        (nbg / "students").mkdir(parents=True, exist_ok=True)
        (ott / "students").mkdir(parents=True, exist_ok=True)
        nbformat.write(nbgrader_source(), nbg / base.NOTEBOOK)
        nbformat.write(otter_master(), ott / OTTER_NOTEBOOK)
        for s in STUDENTS:
            nbformat.write(nbgrader_student(s), nbg / "students" / f"{s.name}.ipynb")
            nbformat.write(otter_student(s), ott / "students" / f"{s.name}.ipynb")
    return {"nbgrader": nbg / base.NOTEBOOK, "otter": ott / OTTER_NOTEBOOK}


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "peer-corpus")
    print(write_corpus(out))
    for tool in ("nbgrader", "otter"):
        for s in STUDENTS:
            print(tool, s.name, s.kind, expected(tool, s))
