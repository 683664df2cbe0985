"""`grader grade` of several files or a folder: one JSON object a line (with its path), in order; a
bad file in the middle is its own error line and the rest are still graded; exit 1 if any ended in
error, 0 if all were graded, 2 for bad usage. The one-file form is tests/grading/test_cli_bad_input.py's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

GRADER = [sys.executable, "-m", "grader.cli"]


def grader(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*GRADER, *args], capture_output=True, text=True, timeout=300, env=env)


def notebook(body: str) -> bytes:
    cell = nbformat.v4.new_code_cell(f"def add_one(x):\n    {body}")
    return nbformat.writes(nbformat.v4.new_notebook(cells=[cell])).encode()


def tiny_coursework(root: Path) -> Path:
    """``tiny``: one auto item of 2 points, one hidden test, a one-cell notebook."""
    cw = root / "tiny"
    (cw / "hidden").mkdir(parents=True)
    (cw / "rubric.yaml").write_text(
        textwrap.dedent("""\
        coursework: tiny
        title: Tiny
        weight: 0.4
        total_points: 2
        mode: definitions
        submission: {notebook: tiny.ipynb}
        parts: [{id: "1", title: One, points: 2}]
        items:
          - {id: add, part: "1", title: Add one, points: 2, auto: {tests: ["test_tiny.py::test_add"]}}
        """)
    )
    (cw / "hidden" / "test_tiny.py").write_text(
        textwrap.dedent("""\
        def test_add(student, run_seed):
            x = run_seed % 1000
            assert student.run("y = add_one(x)", inputs={"x": x}, outputs=["y"])["y"] == x + 1, "wrong sum"
        """)
    )
    return root


def lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_a_folder_is_graded_file_by_file_in_name_order(tmp_path: Path):
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "b.ipynb").write_bytes(b"")
    (folder / "a.zip").write_bytes(b"PK\x03\x04\x00\x00not a zip")
    (folder / "notes.txt").write_text("not a submission")
    (folder / ".~a.ipynb").write_bytes(b"")  # an editor's lock file
    proc = grader("grade", str(folder), "--coursework", "cw1", "--json")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    results = lines(proc.stdout)
    assert [r["path"] for r in results] == [str(folder / "a.zip"), str(folder / "b.ipynb")]
    assert [r["error_kind"] for r in results] == ["submission", "submission"]
    assert "not a valid zip" in results[0]["error"] and "is empty" in results[1]["error"]
    assert all(r["status"] == "error" and r["score"] == 0 and r["coursework"] == "cw1" for r in results)


def test_a_folder_with_nothing_to_grade_is_bad_usage(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("x")
    proc = grader("grade", str(tmp_path), "--coursework", "cw1", "--json")
    assert proc.returncode == 2 and "no .ipynb or .zip file" in proc.stderr and proc.stdout == ""


@pytest.mark.sandbox
def test_a_bad_file_in_the_middle_does_not_stop_the_batch(tmp_path: Path):
    env = {**os.environ, "GRADER_RUBRICS_DIR": str(tiny_coursework(tmp_path / "rubrics"))}
    right, empty, wrong = tmp_path / "1-right.ipynb", tmp_path / "2-empty.ipynb", tmp_path / "3-wrong.ipynb"
    right.write_bytes(notebook("return x + 1"))
    empty.write_bytes(b"")
    wrong.write_bytes(notebook("return x"))
    proc = grader("grade", str(right), str(empty), str(wrong), "--coursework", "tiny", "--json", env=env)
    assert proc.returncode == 1, proc.stderr
    results = lines(proc.stdout)
    assert [r["path"] for r in results] == [str(right), str(empty), str(wrong)]
    assert [(r["status"], r["score"]) for r in results] == [("graded", 2), ("error", 0), ("graded", 0)]
    assert results[1]["error_kind"] == "submission"
    assert results[2]["items"][0]["status"] == "failed" and results[2]["max_score"] == 2

    # Every one graded: exit 0; the human form ends with a count.
    proc = grader("grade", str(right), str(right), "--coursework", "tiny", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(f"== {right}") == 2 and proc.stdout.rstrip().endswith("2 of 2 graded, 0 ended in error")
