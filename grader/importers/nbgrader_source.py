"""Reading an nbgrader source notebook (the instructor's version, with solutions and hidden tests).

Cell metadata ``nbgrader`` (schema 3): ``grade`` + ``solution`` = a manually graded answer;
``grade`` alone on a code cell = an autograder test cell; ``task`` = a manually graded task;
``solution`` alone = an autograded answer; ``locked`` = read-only. Items take nbgrader's
``grade_id`` and ``points``. The skeleton is what ``nbgrader generate_assignment`` releases:
solution regions replaced by stubs, ``### BEGIN HIDDEN TESTS`` regions removed.
"""

from __future__ import annotations

import copy
import re

import nbformat

from grader.importers import tests_code
from grader.importers.checks import last_expression, recognise
from grader.importers.model import CellProblem, Imported, ImportedItem, ImportRefused

KNOWN_KEYS = {"grade", "solution", "locked", "points", "grade_id", "task", "schema_version", "checksum", "cell_type"}
CODE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
TEXT_STUB = ["YOUR ANSWER HERE"]
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def _strip_region(source: str, begin: str, end: str, stub: list[str] | None) -> tuple[str, bool]:
    """``source`` with each region from a line containing ``begin`` to one containing ``end``
    replaced by ``stub`` (indented as the begin line), or removed when ``stub`` is None.
    Raises ValueError on a nested or unclosed region."""
    out: list[str] = []
    inside = found = False
    for line in source.split("\n"):
        if begin in line:
            if inside:
                raise ValueError(f"nested '{begin}'")
            inside = found = True
            indent = re.match(r"\s*", line).group(0)  # type: ignore[union-attr]
            out.extend(indent + s for s in stub or [])
        elif end in line:
            if not inside:
                raise ValueError(f"'{end}' without '{begin}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"'{begin}' without '{end}'")
    return "\n".join(out), found


def release_source(cell: nbformat.NotebookNode) -> str:
    """The cell as ``generate_assignment`` releases it (solutions stubbed, hidden tests gone)."""
    meta = cell.metadata.get("nbgrader", {})
    source = cell.source
    if meta.get("solution"):
        stub = CODE_STUB if cell.cell_type == "code" else TEXT_STUB
        source, found = _strip_region(source, "### BEGIN SOLUTION", "### END SOLUTION", stub)
        if not found:  # a solution cell without delimiters: the whole cell is the solution
            source = "\n".join(stub)
    if meta.get("grade") and not meta.get("solution"):
        source, _ = _strip_region(source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS", None)
    return source


def read_nbgrader(nb: nbformat.NotebookNode, title: str) -> Imported:
    problems: list[CellProblem] = []
    items: list[ImportedItem] = []
    seen: set[str] = set()
    skeleton = copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            continue
        label = str(meta.get("grade_id", "")) if isinstance(meta, dict) else ""

        def refuse(reason: str, index: int = index, label: str = label) -> None:
            problems.append(CellProblem(index, label, reason))

        if not isinstance(meta, dict):
            refuse("nbgrader metadata is not a mapping")
            continue
        unknown = sorted(set(meta) - KNOWN_KEYS)
        if unknown:
            refuse(f"unknown nbgrader metadata: {', '.join(unknown)}")
            continue
        grade, solution, task = bool(meta.get("grade")), bool(meta.get("solution")), bool(meta.get("task"))
        try:
            skeleton.cells[index].source = release_source(cell)
        except ValueError as exc:
            refuse(str(exc))
            continue
        if not (grade or solution or task):
            continue  # locked or plain: kept as it is
        if not label or not ID_PATTERN.match(label):
            refuse(f"grade_id {label!r} is missing or not usable as an item id (letters, digits, _ . -)")
            continue
        if label in seen:
            refuse(f"grade_id {label!r} is used twice")
            continue
        seen.add(label)
        if not (grade or task):
            continue  # an autograded answer cell: its stub is in the skeleton, its tests elsewhere
        points = meta.get("points")
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
            refuse(f"points {points!r}: a graded cell needs points above 0")
            continue
        title_line = f"{label} ({'task' if task else cell.cell_type} cell {index})"
        if task or solution or cell.cell_type != "code":
            if grade and not solution and not task:
                refuse("a graded markdown cell that is not a solution cell: nbgrader cannot grade it either")
                continue
            items.append(
                ImportedItem(id=label, title=f"{title_line}, marked by hand", points=float(points), kind="manual")
            )
            continue
        hidden = "### BEGIN HIDDEN TESTS" in cell.source
        recognised = recognise(cell.source)
        try:
            compile(cell.source, f"<cell {index}>", "exec")
        except SyntaxError as exc:
            refuse(f"the test cell is not Python the judge can run ({exc.msg}, line {exc.lineno})")
            continue
        name = tests_code.test_name(label)
        if recognised is not None:
            code = tests_code.nbgrader_recognised(name, recognised, float(points))
            has_result = recognised.result is not None
        else:
            split = last_expression(cell.source)
            body, result = split if split is not None else (cell.source, None)
            code = tests_code.nbgrader_in_kernel(name, body, result, float(points))
            has_result = result is not None
        items.append(
            ImportedItem(
                id=label,
                title=f"{label} (test cell {index})",
                points=float(points),
                kind="auto",
                hidden_tests=hidden,
                test_name=name,
                test_source=code,
                checked_in_kernel=recognised is None,
                all_or_nothing=not has_result,  # a cell's numeric value is partial credit
            )
        )
    if not items and not problems:
        problems.append(CellProblem(None, "", "no graded cells (nbgrader grade or task metadata) found"))
    if problems:
        raise ImportRefused(problems)
    return Imported(tool="nbgrader", title=title, items=items, solution=copy.deepcopy(nb), skeleton=skeleton)
