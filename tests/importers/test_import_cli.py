"""`grader import nbgrader|otter` end to end: the folder is written, `grader rubric check` passes on it
(the source's solution earns every auto point, the skeleton none), and a student notebook then
grades against it with the documented differences (the judge compares; forged values do not pass)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import import_sources as src
import nbformat
import pytest

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]  # the import's check grades the reference and skeleton


def grader(*args: str, rubrics_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRADER_RUBRICS_DIR": str(rubrics_dir)}
    return subprocess.run(
        [sys.executable, "-m", "grader.cli", *args], env=env, capture_output=True, text=True, timeout=600
    )


def with_cell(path: Path, marker: str, source: str, out: Path) -> Path:
    nb = copy.deepcopy(nbformat.read(str(path), as_version=4))
    for cell in nb.cells:
        if marker in cell.source:
            cell.source = source
    nbformat.write(nb, str(out))
    return out


def test_import_nbgrader_checks_the_folder_and_grades_a_student(tmp_path: Path) -> None:
    source = tmp_path / "squares.ipynb"
    # nbgrader's partial credit: the cell's value is the points earned (2 right answers of 4, 1 point each)
    partial = "got = 0\nfor n in (1, 2, 3, 4):\n    got += int(square(n) == n * n)\ngot"
    nbformat.write(src.nbgrader_source(extra_test=partial, extra_points=4), str(source))
    done = grader("import", "nbgrader", str(source), "--coursework", "sq", "--weight", "0.3", rubrics_dir=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == str(tmp_path / "sq")
    assert "ok    checked inside the student's kernel, not tamper-proof: loop_test, extra" in lines
    assert "ok    reference earns 8.5/8.5 auto points" in lines

    # right only for 1 and 2 (and 0): loop_test fails, the partial cell earns 2 of 4
    half = "def square(x):\n    return x * x if x < 3 else 0"
    student = with_cell(tmp_path / "sq" / "solution.ipynb", "def square", half, tmp_path / "half.ipynb")
    graded = grader("grade", str(student), "--coursework", "sq", "--json", rubrics_dir=tmp_path)
    scores = {i["id"]: i["score"] for i in json.loads(graded.stdout)["items"]}
    assert scores["extra"] == 2.0 and scores["loop_test"] == 0.0 and scores["square_test"] == 0.0

    # __eq__ that says yes to everything: the judge's comparison is out of its reach; the cell run in
    # the kernel is not (the documented exception)
    forged = "class E(int):\n    def __eq__(self, other):\n        return True\n\ndef square(x):\n    return E(0)"
    student = with_cell(tmp_path / "sq" / "solution.ipynb", "def square", forged, tmp_path / "forged.ipynb")
    graded = grader("grade", str(student), "--coursework", "sq", "--json", rubrics_dir=tmp_path)
    assert graded.returncode == 0, graded.stderr
    scores = {i["id"]: i["score"] for i in json.loads(graded.stdout)["items"]}
    assert scores == {
        "square_test": 0.0,
        "halves_test": 1.0,
        "loop_test": 1.5,
        "why_sign": 0.0,
        "plot_task": 0.0,
        "extra": 4.0,
    }


def test_import_otter_checks_the_folder_and_scores_cases_by_their_points(tmp_path: Path) -> None:
    source = tmp_path / "master.ipynb"
    nbformat.write(src.otter_master(), str(source))
    done = grader(
        "import", "otter", str(source), "--coursework", "ot", "--out", str(tmp_path / "cws"), rubrics_dir=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok    reference earns 6/6 auto points" in done.stdout
    assert "ok    skeleton earns 0/6 auto points (at most 0.3)" in done.stdout

    half = "def double(x):\n    return 2 * x if isinstance(x, list) else 5"  # case 1 (1 pt) wrong, case 2 (2 pt) right
    forged = "class I(int):\n    def __repr__(self):\n        return '4'\n\ndef double(x):\n    return I(7)"
    solution = tmp_path / "cws" / "ot" / "solution.ipynb"
    for name, body, q1 in (("half", half, 2.0), ("forged", forged, 0.0)):
        student = with_cell(solution, "def double", body, tmp_path / f"{name}.ipynb")
        graded = grader("grade", str(student), "--coursework", "ot", "--json", rubrics_dir=tmp_path / "cws")
        assert graded.returncode == 0, graded.stderr
        items = {i["id"]: i for i in json.loads(graded.stdout)["items"]}
        assert items["q1"]["score"] == q1, (name, items["q1"])
        assert items["q2"]["score"] == 3.0
        assert "[1, 1]" not in items["q1"]["message"]  # a hidden case's expected output never shows


def test_a_failing_check_exits_1(tmp_path: Path) -> None:
    nb = src.nbgrader_source()
    nb.cells[3].source += "\nassert square(4) == 15"  # the source's own solution fails its test
    source = tmp_path / "bad.ipynb"
    nbformat.write(nb, str(source))
    done = grader("import", "nbgrader", str(source), "-c", "bad", rubrics_dir=tmp_path)
    assert done.returncode == 1
    assert "FAIL  reference earns 2.5/4.5 auto points: short on square_test 0/2" in done.stdout
