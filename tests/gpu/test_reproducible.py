"""``reproducible: true`` in a rubric seeds the student's kernel (random, numpy, torch) and turns on
torch's deterministic algorithms: two gradings draw the same numbers. Real kernels, on the CPU."""

from __future__ import annotations

import shutil

import nbformat
import pytest
from gpu_kit import COURSEWORKS

from grader.grading.pipeline import grade_submission
from grader.rubrics.loader import load_coursework
from grader.settings import Settings
from workers.judge.launcher import SubprocessJudge

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]  # grades whole notebooks


def _printed(report) -> str:
    nb = nbformat.reads(report.executed_notebook.decode(), as_version=4)
    return "".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))


def test_a_reproducible_rubric_draws_the_same_numbers_in_every_grading(tmp_path):
    shutil.copytree(COURSEWORKS / "seeded", tmp_path / "seeded")
    rubric = tmp_path / "seeded" / "rubric.yaml"
    rubric.write_text(
        rubric.read_text()
        .replace("coursework: seeded", "coursework: unseeded")
        .replace("reproducible: true", "reproducible: false")
    )
    (tmp_path / "seeded").rename(tmp_path / "unseeded")
    seeded_settings, unseeded_settings = Settings(rubrics_dir=COURSEWORKS), Settings(rubrics_dir=tmp_path)
    seeded, unseeded = load_coursework("seeded", seeded_settings), load_coursework("unseeded", unseeded_settings)
    notebook = COURSEWORKS / "seeded" / "solution.ipynb"

    first, second = (grade_submission(notebook, seeded, seeded_settings, judge=SubprocessJudge()) for _ in range(2))
    assert first.status == second.status == "graded", (first.error, second.error)
    assert first.score == 1, first.tests  # deterministic algorithms are on
    assert "] True" in _printed(first)
    assert _printed(first) == _printed(second)

    free = grade_submission(notebook, unseeded, unseeded_settings, judge=SubprocessJudge())
    assert free.status == "graded" and free.score == 0  # nothing turned them on
    assert _printed(free) != _printed(first)
