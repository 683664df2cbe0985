"""Laying an ``Imported`` out as a coursework folder (the layout of ``rubrics/tut1/``).

Everything is built and validated in memory first (the rubric through the rubric model itself),
then written into a temporary folder beside the target and renamed into place: a refused import
writes nothing, and a folder is never left half written.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import nbformat
import yaml
from pydantic import ValidationError

from grader.importers.model import CellProblem, Imported, ImportRefused
from grader.rubrics.model import Rubric

MARKER = "# imported by `grader import"  # the first line of an imported rubric.yaml
TEST_FILE = "test_imported.py"
# nbgrader's own per-cell limit (its Execute preprocessor's default timeout); Otter sets none
DEFAULT_CELL_TIMEOUT_S = {"nbgrader": 30.0, "otter": None}
CONFTEST = Path(__file__).with_name("judge_conftest.py")


def rubric_dict(
    imported: Imported, coursework: str, weight: float, cell_timeout_s: float | None = None
) -> dict[str, Any]:
    total = round(sum(i.points for i in imported.items), 6)
    items = []
    for item in imported.items:
        entry: dict[str, Any] = {"id": item.id, "part": "main", "title": item.title, "points": item.points}
        if item.kind == "manual":
            entry["manual"] = True
        else:
            auto: dict[str, Any] = {"tests": [f"{TEST_FILE}::{item.test_name}"]}
            if item.all_or_nothing:
                auto["partial"] = False
            if item.checked_in_kernel:
                auto["checked_in_kernel"] = True
            entry["auto"] = auto
        # hidden cases: the student sees the item's result after release, as the tools show them
        if item.hidden_tests and weight > 0:
            entry["visibility"] = "after_release"
        items.append(entry)
    rubric: dict[str, Any] = {
        "coursework": coursework,
        "title": imported.title,
        "version": "1",
        "weight": weight,
        "total_points": total,
        "submission": {"notebook": f"{coursework}.ipynb"},
        # both tools run every cell of the notebook before testing
        "mode": "full",
        "parts": [{"id": "main", "title": imported.title, "points": total}],
        "items": items,
    }
    timeout = cell_timeout_s if cell_timeout_s is not None else DEFAULT_CELL_TIMEOUT_S[imported.tool]
    if timeout is not None:
        rubric["resources"] = {"cell_timeout_s": timeout}
    return rubric


def build_files(
    imported: Imported, coursework: str, weight: float, cell_timeout_s: float | None = None
) -> dict[str, str]:
    """Relative path -> text of every file of the folder. Raises ImportRefused if the rubric the
    import makes is not a valid rubric (e.g. weight 0 with manual items)."""
    data = rubric_dict(imported, coursework, weight, cell_timeout_s)
    try:
        Rubric.model_validate(data)
    except ValidationError as exc:
        raise ImportRefused(
            [
                CellProblem(
                    None, coursework, f"the rubric would be invalid: {'.'.join(map(str, e['loc']))}: {e['msg']}"
                )
                for e in exc.errors()
            ]
        ) from None
    header = f"{MARKER} {imported.tool}`: edit freely; re-importing replaces this folder.\n"
    tests = [i.test_source for i in imported.items if i.test_source]
    for nb in (imported.solution, imported.skeleton):
        nbformat.validate(nb)
    return {
        "rubric.yaml": header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120),
        "hidden/conftest.py": CONFTEST.read_text(encoding="utf-8"),
        f"hidden/{TEST_FILE}": _test_file(imported.tool, tests),
        "solution.ipynb": nbformat.writes(imported.solution),
        "skeleton.ipynb": nbformat.writes(imported.skeleton),
    }


def _test_file(tool: str, functions: list[str]) -> str:
    header = f'"""Imported from {tool} by `grader import {tool}`: one test per auto-graded item."""\n'
    return header + "\n\n" + "\n\n".join(functions)


class TargetExists(Exception):
    pass


def write_folder(files: dict[str, str], target: Path) -> None:
    """Write ``files`` as the folder ``target``. A folder there is replaced only if an import made it."""
    if target.exists():
        rubric = target / "rubric.yaml"
        first = rubric.read_text(encoding="utf-8").split("\n", 1)[0] if rubric.is_file() else ""
        if not first.startswith(MARKER):
            raise TargetExists(f"{target} exists and was not made by `grader import`: not replaced")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        staging.chmod(0o755)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            target.rename(old / target.name)
            staging.rename(target)
            shutil.rmtree(old)
        else:
            staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
