"""The sample CW1 stays consistent: notebooks regenerate, rubric and hidden suite agree, the source
check flags exactly the library-layer cheat. Fast: nothing is executed or graded here."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

from grader.rubrics.loader import parse_rubric

REPO = Path(__file__).resolve().parents[3]
CW1 = REPO / "rubrics" / "cw1"


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def submissions():
    return _module("cw1_submissions", REPO / "tests" / "cw1_submissions.py").SUBMISSIONS


@pytest.fixture(scope="module")
def hidden_conftest():
    return _module("cw1_hidden_conftest", CW1 / "hidden" / "conftest.py")


def test_notebooks_are_what_build_py_writes(tmp_path: Path):
    build = _module("cw1_build", CW1 / "build.py")
    build.main(tmp_path)
    for name in ("skeleton.ipynb", "solution.ipynb"):
        assert (tmp_path / name).read_text() == (CW1 / name).read_text(), f"{name} is stale: run rubrics/cw1/build.py"


def test_rubric_tests_exist_in_the_hidden_suite():
    rubric = parse_rubric(CW1 / "rubric.yaml")
    defined = set()
    for path in (CW1 / "hidden").glob("test_*.py"):
        tree = ast.parse(path.read_text())
        defined |= {
            f"{path.name}::{n.name}" for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
        }
    assert rubric.test_ids() == defined
    assert rubric.auto_max_score == 72 and rubric.total_points == 100 and rubric.weight == 0.4


def test_submissions_are_valid_and_their_expected_scores_possible(submissions):
    assert "skeleton" in submissions and "colab_correct" in submissions
    for name, (nb, expected) in submissions.items():
        nbformat.validate(nb)
        assert expected.score is not None or expected.score_range is not None, name
        low = expected.score if expected.score is not None else expected.score_range[0]
        assert 0 <= low <= 72, name


def test_source_check_flags_only_the_cheat(submissions, hidden_conftest):
    flagged = {}
    for name, (nb, _) in submissions.items():
        cells = [c.source for c in nb.cells if c.cell_type == "code"]
        index = hidden_conftest.SourceIndex(cells)
        layers = hidden_conftest.LAYER_CLASSES
        hits = [h.text for n in layers for h in index.library_uses(n, skip=[m for m in layers if m != n])]
        if hits:
            flagged[name] = hits
    assert flagged == {"conv_uses_library": ["F.conv2d"]}
