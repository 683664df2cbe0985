"""Reading an Otter-Grader master notebook (the format ``otter assign`` of otter-grader 7 reads).

Raw cells delimit blocks: ``# ASSIGNMENT CONFIG`` (YAML; dropped), ``# BEGIN QUESTION`` (YAML:
name, points, manual, all_or_nothing, check_cell, export) ... ``# END QUESTION``, and inside a
question ``# BEGIN SOLUTION``/``# END SOLUTION``, ``# BEGIN TESTS``/``# END TESTS``,
``# BEGIN PROMPT``/``# END PROMPT``. Each test cell is one OK-format case: its statements are the
doctest's examples, its stored outputs the expected output; a ``\"\"\" # BEGIN TEST CONFIG`` header
(hidden, points, success_message, failure_message) or a first comment line saying ``HIDDEN``.
Points resolve as Otter resolves them (``TestFile.resolve_test_file_points``).
"""

from __future__ import annotations

import ast
import copy
import doctest
import re
from typing import Any

import nbformat
import yaml

from grader.importers import tests_code
from grader.importers.model import CellProblem, Imported, ImportedItem, ImportRefused

QUESTION_KEYS = {"name", "manual", "points", "check_cell", "export", "all_or_nothing"}
TEST_CONFIG_KEYS = {"hidden", "points", "success_message", "failure_message"}
ANSWER_PROMPT = "_Type your answer here, replacing this text._"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
SOLUTION_ASSIGNMENT = re.compile(r"(\s*(?:[\w.]+(?=[^\w.])(?:\[['\"]?.*['\"]?\])*(?:,\s*)?)+\s*=).* ?# ?SOLUTION")
SOLUTION_LINE = re.compile(r"(\s*).* ?# ?SOLUTION")
BEGIN_SOLUTION = re.compile(r"(\s*)# BEGIN SOLUTION( NO PROMPT)?")
SKIP_SUFFIXES = ("# SOLUTION NO PROMPT", "# BEGIN PROMPT", "# END PROMPT", "# SEED")


def _raw_marker(cell: nbformat.NotebookNode) -> tuple[str, str] | None:
    """(marker, the YAML after it) of a raw delimiter cell, e.g. ("BEGIN QUESTION", "name: q1")."""
    source = cell.source
    if cell.cell_type == "markdown":  # Otter's fenced form: ```otter ... ```
        lines = source.strip().split("\n")
        if len(lines) >= 2 and lines[0].strip() == "```otter" and lines[-1].strip() == "```":
            source = "\n".join(lines[1:-1])
        else:
            return None
    elif cell.cell_type != "raw":
        return None
    first, _, rest = source.strip().partition("\n")
    m = re.match(r"#\s*(BEGIN|END)\s+(QUESTION|SOLUTION|TESTS|PROMPT)\b|#\s*(ASSIGNMENT CONFIG)", first.strip(), re.I)
    if not m:
        return None
    marker = m.group(3) or f"{m.group(1)} {m.group(2)}"
    return marker.upper(), rest


def replace_solutions(source: str) -> str:
    """A solution cell as ``otter assign`` gives it to students (otter.assign.solutions)."""
    out, inside = [], False
    for line in source.split("\n"):
        if any(line.rstrip().endswith(s) for s in SKIP_SUFFIXES):
            continue
        if line.rstrip().endswith("# END SOLUTION"):
            inside = False
            continue
        if inside:
            continue
        begin = BEGIN_SOLUTION.match(line)
        if begin:
            inside = True
            if begin.group(2):
                continue
            line = begin.group(1) + "..."
        elif m := SOLUTION_ASSIGNMENT.match(line):
            line = m.group(1) + " ..."
        elif m := SOLUTION_LINE.match(line):
            line = m.group(1) + "..."
        out.append(line)
    return "\n".join(out)


def _expected_output(cell: nbformat.NotebookNode) -> str:
    text = ""
    for o in cell.get("outputs", []):
        got = o.get("text", "")
        text += "".join(got) if isinstance(got, list) else str(got)
        plain = o.get("data", {}).get("text/plain")
        if plain:
            text += plain[0] if isinstance(plain, list) else str(plain)
    return text


def _parse_test(cell: nbformat.NotebookNode) -> tuple[dict[str, Any], str]:
    """(config, the test's code). Raises ValueError."""
    lines = cell.source.split("\n")
    config: dict[str, Any] = {}
    start = 0
    if lines and re.match(r'\s*"""\s*#\s*BEGIN TEST CONFIG', lines[0]):
        for i, line in enumerate(lines[1:], 1):
            if re.match(r'\s*"""\s*#\s*END TEST CONFIG', line):
                loaded = yaml.safe_load("\n".join(lines[1:i])) or {}
                if not isinstance(loaded, dict):
                    raise ValueError("the test config is not a mapping")
                config, start = loaded, i + 1
                break
        else:
            raise ValueError("BEGIN TEST CONFIG without END TEST CONFIG")
    elif lines and lines[0].lstrip().startswith("#"):
        if re.search(r"\bhidden\b", lines[0], flags=re.I):
            config, start = {"hidden": True}, 1
    unknown = sorted(set(config) - TEST_CONFIG_KEYS)
    if unknown:
        raise ValueError(f"unknown test config: {', '.join(map(str, unknown))}")
    return config, "\n".join(lines[start:])


def str_to_doctest(code_lines: list[str]) -> list[str]:
    """Otter's own conversion of a test's code into doctest lines (otter.assign.utils)."""
    out: list[str] = []
    for line in code_lines:
        if not line:
            continue
        continued = (
            line.startswith((" ", "\t", "elif ", "else:", "finally:"))
            or bool(re.match(r"^except[\s\w]*:", line))
            or (bool(out) and out[-1].strip().endswith("\\"))
        )
        out.append(("... " if continued else ">>> ") + line)
    return out


def doctest_examples(code: str, output: str) -> list[tuple[str, bool, str]]:
    """(source, is_expression, want) of each example, parsed by doctest from the very text Otter
    writes into its OK test (the code as doctest lines, then the cell's stored output)."""
    body = "\n".join(str_to_doctest(ast.unparse(ast.parse(code)).split("\n")) + output.split("\n"))
    examples = []
    for ex in doctest.DocTestParser().get_examples(body):
        try:
            compile(ex.source, "<test>", "eval")
            is_expr = True
        except SyntaxError:
            is_expr = False
        examples.append((ex.source.rstrip("\n"), is_expr, ex.want))
    return examples


def resolve_points(total: Any, cases: list[dict[str, Any]]) -> list[float]:
    """Each case's points, as Otter resolves them (TestFile.resolve_test_file_points)."""
    given: list[float | None] = [c.get("points") for c in cases]
    if isinstance(total, dict):
        total = float(total.get("each", 1)) * len(cases)
    if isinstance(total, list):
        if len(total) != len(cases):
            raise ValueError(f"points lists {len(total)} values for {len(cases)} test cases")
        given, total = [float(p) for p in total], None
    pre = sum(p for p in given if p is not None)
    unset = sum(p is None for p in given)
    if total is not None:
        if pre > total:
            raise ValueError("the test cases declare more points than the question")
        rest = (total - pre) / unset if unset else 0.0
    elif pre == 0 and all(p in (0, None) for p in given):
        rest = 1 / unset if unset else 0.0
    else:
        rest = 0.0
    return [float(p) if p is not None else rest for p in given]


def read_otter(nb: nbformat.NotebookNode, title: str) -> Imported:
    problems: list[CellProblem] = []
    items: list[ImportedItem] = []
    solution_cells: list[nbformat.NotebookNode] = []
    skeleton_cells: list[nbformat.NotebookNode] = []
    question: dict[str, Any] | None = None
    q_index = 0
    block: str | None = None  # SOLUTION, TESTS or PROMPT inside a question
    tests: list[tuple[int, nbformat.NotebookNode]] = []

    def refuse(index: int | None, label: str, reason: str) -> None:
        problems.append(CellProblem(index, label, reason))

    def close_question(index: int) -> None:
        assert question is not None
        name = str(question.get("name", ""))
        if question.get("manual"):
            pts = question.get("points")
            if tests:
                refuse(index, name, "a manual question with tests: grader marks it by hand, its tests would be lost")
            elif isinstance(pts, bool) or not isinstance(pts, (int, float)) or pts <= 0:
                refuse(q_index, name, f"manual question points {pts!r}: give points above 0")
            else:
                items.append(ImportedItem(id=name, title=f"{name}, marked by hand", points=float(pts), kind="manual"))
            return
        if not tests:
            refuse(q_index, name, "a question with no tests and not manual: nothing would grade it")
            return
        cases: list[dict[str, Any]] = []
        for t_index, cell in tests:
            try:
                config, code = _parse_test(cell)
                examples = doctest_examples(code, _expected_output(cell))
            except (ValueError, SyntaxError, yaml.YAMLError) as exc:
                refuse(t_index, name, f"test cell: {exc}")
                continue
            if any(want.startswith("Traceback (most recent call last)") for _, _, want in examples):
                refuse(t_index, name, "a case that expects an exception is not supported")
                continue
            if not examples:
                refuse(t_index, name, "an empty test cell")
                continue
            cases.append(
                {
                    "examples": examples,
                    "points": config.get("points"),
                    "failure_message": str(config.get("failure_message") or ""),
                    "hidden": bool(config.get("hidden", False)),
                }
            )
        if len(cases) != len(tests):
            return
        try:
            resolved = resolve_points(question.get("points"), cases)
        except (ValueError, TypeError) as exc:
            refuse(q_index, name, f"points: {exc}")
            return
        for case, pts in zip(cases, resolved, strict=True):
            case["points"] = pts
        total = sum(resolved)
        if total <= 0:
            refuse(q_index, name, "its test cases are worth 0 points")
            return
        test = tests_code.test_name(name)
        items.append(
            ImportedItem(
                id=name,
                title=f"{name} ({len(cases)} test cases)",
                points=round(total, 6),
                kind="auto",
                hidden_tests=any(c["hidden"] for c in cases),
                test_name=test,
                test_source=tests_code.otter_question(test, cases, bool(question.get("all_or_nothing"))),
                all_or_nothing=bool(question.get("all_or_nothing")),
            )
        )

    for index, cell in enumerate(nb.cells):
        marker = _raw_marker(cell)
        if marker is not None:
            kind, rest = marker
            label = str(question.get("name", "")) if question else ""
            if kind == "ASSIGNMENT CONFIG":
                continue
            if kind == "BEGIN QUESTION":
                if question is not None:
                    refuse(index, label, "BEGIN QUESTION inside a question")
                    continue
                try:
                    loaded = yaml.safe_load(rest) or {}
                except yaml.YAMLError as exc:
                    refuse(index, "", f"question config is not YAML: {exc}")
                    loaded = {}
                if not isinstance(loaded, dict):
                    refuse(index, "", "question config is not a mapping")
                    loaded = {}
                name = str(loaded.get("name", ""))
                unknown = sorted(set(map(str, loaded)) - QUESTION_KEYS)
                if unknown:
                    refuse(index, name, f"unknown question config: {', '.join(unknown)}")
                if not ID_PATTERN.match(name):
                    refuse(index, name, f"question name {name!r} is missing or not usable as an item id")
                elif any(i.id == name for i in items):
                    refuse(index, name, f"question name {name!r} is used twice")
                question, q_index, block, tests = loaded, index, None, []
            elif kind == "END QUESTION":
                if question is None:
                    refuse(index, "", "END QUESTION without BEGIN QUESTION")
                else:
                    close_question(index)
                question, block = None, None
            elif kind.startswith("BEGIN "):
                if question is None or block is not None:
                    refuse(index, label, f"{kind} outside a question or inside another block")
                block = kind.split()[1]
            else:
                if block != kind.split()[1]:
                    refuse(index, label, f"{kind} without its BEGIN")
                block = None
            continue
        if block == "TESTS":
            if cell.cell_type == "code":
                tests.append((index, cell))
            continue  # test cells (and notes between them) stay out of both notebooks
        solution_cells.append(copy.deepcopy(cell))
        student = copy.deepcopy(cell)
        if block == "SOLUTION":
            if cell.cell_type == "code":
                student.source = replace_solutions(cell.source)
                student.outputs = []
            else:
                student.source = ANSWER_PROMPT
        else:
            if cell.cell_type == "code":
                student.source = replace_solutions(cell.source)
        skeleton_cells.append(student)
    if question is not None:
        refuse(q_index, str(question.get("name", "")), "BEGIN QUESTION without END QUESTION")
    if not items and not problems:
        refuse(None, "", "no questions (# BEGIN QUESTION raw cells) found")
    if problems:
        raise ImportRefused(problems)
    solution, skeleton = copy.deepcopy(nb), copy.deepcopy(nb)
    solution.cells, skeleton.cells = solution_cells, skeleton_cells
    return Imported(tool="otter", title=title, items=items, solution=solution, skeleton=skeleton)
