"""`grader rubric check`: passes for sound rubrics, fails (exit 1) when the reference falls short."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]  # `rubric check` grades the reference solution


def check(coursework: str, rubrics_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"GRADER_RUBRICS_DIR": str(rubrics_dir)} if rubrics_dir else {})}
    return subprocess.run(
        [sys.executable, "-m", "grader.cli", "rubric", "check", coursework],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def mini_coursework(root: Path, solution_body: str) -> None:
    cw = root / "mini"
    (cw / "hidden").mkdir(parents=True)
    (cw / "rubric.yaml").write_text(
        textwrap.dedent("""\
        coursework: mini
        title: Mini
        weight: 0.4
        total_points: 3
        mode: definitions
        submission: {notebook: mini.ipynb}
        parts: [{id: "1", title: One, points: 3}]
        items:
          - {id: add, part: "1", title: Add one, points: 2, auto: {tests: ["test_mini.py::test_add"]}}
          - {id: talk, part: "1", title: Discussion, points: 1, manual: true}
        """)
    )
    (cw / "hidden" / "test_mini.py").write_text(
        textwrap.dedent("""\
        def test_add(student, run_seed):
            x = run_seed % 1000
            assert student.run("y = add_one(x)", inputs={"x": x}, outputs=["y"])["y"] == x + 1, "wrong sum"
        """)
    )
    for name, body in (("solution", solution_body), ("skeleton", "raise NotImplementedError")):
        cell = nbformat.v4.new_code_cell(f"def add_one(x):\n    {body}")
        nbformat.write(nbformat.v4.new_notebook(cells=[cell]), cw / f"{name}.ipynb")


def test_sound_rubric_passes_and_a_short_reference_fails(tmp_path: Path):
    mini_coursework(tmp_path / "good", "return x + 1")
    proc = check("mini", tmp_path / "good")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok    reference earns 2/2 auto points" in proc.stdout
    assert "ok    skeleton earns 0/2 auto points" in proc.stdout

    mini_coursework(tmp_path / "bad", "return x + 2")
    proc = check("mini", tmp_path / "bad")
    assert proc.returncode == 1
    assert "FAIL  reference earns 0/2 auto points: short on add 0/2 (failed: wrong sum)" in proc.stdout


def test_cw1_rubric_is_sound():
    proc = check("cw1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reference earns 72/72 auto points" in proc.stdout


def test_tut1_rubric_is_sound():
    # The sample tutorial: graded in seconds, by the same judge as the courseworks.
    proc = check("tut1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reference earns 10/10 auto points" in proc.stdout
    assert "ok    skeleton earns 0/10 auto points" in proc.stdout
    assert "ok    unassessed (weight 0)" in proc.stdout
