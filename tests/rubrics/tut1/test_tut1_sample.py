"""The sample tutorial stays consistent: notebooks regenerate from build.py, and the rubric names
exactly the hidden suite's tests. Fast: nothing is executed or graded here (the grading is
tests/grading/test_rubric_check.py::test_tut1_rubric_is_sound)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

from grader.rubrics.loader import parse_rubric

REPO = Path(__file__).resolve().parents[3]
TUT1 = REPO / "rubrics" / "tut1"


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_notebooks_are_what_build_py_writes(tmp_path: Path):
    _module("tut1_build", TUT1 / "build.py").main(tmp_path)
    for name in ("skeleton.ipynb", "solution.ipynb"):
        assert (tmp_path / name).read_text() == (TUT1 / name).read_text(), f"{name} is stale: run rubrics/tut1/build.py"


def test_rubric_tests_are_the_hidden_suites():
    rubric = parse_rubric(TUT1 / "rubric.yaml")
    defined = set()
    for path in (TUT1 / "hidden").glob("test_*.py"):
        tree = ast.parse(path.read_text())
        defined |= {
            f"{path.name}::{n.name}" for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
        }
    assert rubric.test_ids() == defined
    assert rubric.unassessed and rubric.total_points == rubric.auto_max_score == 10
