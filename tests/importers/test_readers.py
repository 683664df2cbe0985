"""The nbgrader and Otter readers on small sources built here, and the refusals that write nothing."""

from __future__ import annotations

from pathlib import Path

import import_sources as src
import nbformat
import pytest
import yaml
from click.testing import CliRunner
from nbformat import v4

from grader.cli import main
from grader.importers.convert import convert
from grader.importers.model import ImportRefused
from grader.importers.nbgrader_source import read_nbgrader
from grader.importers.otter_master import read_otter, replace_solutions, resolve_points
from grader.importers.writer import TargetExists, build_files, write_folder
from grader.rubrics.model import Rubric


def test_nbgrader_cells_become_items_with_their_grade_ids_and_points() -> None:
    imp = read_nbgrader(src.nbgrader_source(), "Squares")
    got = [(i.id, i.kind, i.points, i.checked_in_kernel, i.hidden_tests) for i in imp.items]
    assert got == [
        ("square_test", "auto", 2.0, False, True),
        ("halves_test", "auto", 1.0, False, False),
        ("loop_test", "auto", 1.5, True, False),
        ("why_sign", "manual", 2.0, False, False),
        ("plot_task", "manual", 1.0, False, False),
    ]


def test_nbgrader_skeleton_is_what_generate_assignment_releases() -> None:
    imp = read_nbgrader(src.nbgrader_source(), "Squares")
    skeleton = [c.source for c in imp.skeleton.cells]
    assert skeleton[2] == "def square(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert skeleton[3] == "assert square(3) == 9\nassert square(-2) == 4, 'negative'"  # hidden tests gone
    assert "YOUR ANSWER HERE" in skeleton[7] and "Because" not in skeleton[7]
    assert not any("square(10)" in s or "BEGIN SOLUTION" in s for s in skeleton)
    # the solution is the source itself, hidden tests and all
    assert [c.source for c in imp.solution.cells] == [c.source for c in src.nbgrader_source().cells]


def test_hidden_nbgrader_tests_are_only_in_the_hidden_suite() -> None:
    files = build_files(read_nbgrader(src.nbgrader_source(), "Squares"), "sq", 1.0)
    assert "square(10)" in files["hidden/test_imported.py"]
    assert "square(10)" not in files["skeleton.ipynb"]


def test_otter_questions_become_items_with_otters_points() -> None:
    imp = read_otter(src.otter_master(), "Lists")
    assert [(i.id, i.kind, i.points, i.hidden_tests) for i in imp.items] == [
        ("q1", "auto", 3.0, True),
        ("q2", "auto", 3.0, True),
        ("q3", "manual", 2.0, False),
    ]
    q2 = imp.items[1].test_source or ""
    # the stored outputs are the expected ones; the example with no output expects none
    assert "('values', True, 'array([0, 2, 4])\\n')" in q2
    assert "('x = label.upper()', False, '')" in q2
    assert "('print(values.sum())', True, '6\\n')" in q2


def test_otter_skeleton_has_no_solution_and_no_tests() -> None:
    imp = read_otter(src.otter_master(), "Lists")
    text = "\n".join(c.source for c in imp.skeleton.cells)
    assert "def double(x):\n    ..." in text and "values = ...\nlabel = ..." in text
    assert "2 * x" not in text and "multiplies" not in text and "double(2)" not in text
    assert not any(c.cell_type == "raw" for c in imp.skeleton.cells + imp.solution.cells)
    assert "return 2 * x" in "\n".join(c.source for c in imp.solution.cells)


def test_otter_point_resolution() -> None:
    cases = [{"points": None}, {"points": 1.0}, {"points": None}]
    assert resolve_points(5, cases) == [2.0, 1.0, 2.0]
    assert resolve_points(None, [{"points": None}, {"points": None}]) == [0.5, 0.5]
    assert resolve_points({"each": 2}, [{"points": None}] * 3) == [2.0, 2.0, 2.0]
    assert resolve_points([1, 3], [{"points": None}] * 2) == [1.0, 3.0]
    with pytest.raises(ValueError):
        resolve_points(1, [{"points": 2.0}])


def test_otter_solution_lines_become_prompts() -> None:
    assert replace_solutions("x = 3  # SOLUTION\nprint(x)") == "x = ...\nprint(x)"
    assert replace_solutions("y = 1  # SOLUTION NO PROMPT\nz = 2") == "z = 2"
    assert replace_solutions("if a:\n    # BEGIN SOLUTION NO PROMPT\n    b()\n    # END SOLUTION\n") == "if a:\n"


def test_the_rubric_is_valid_and_names_the_checks_in_the_kernel() -> None:
    files = build_files(read_nbgrader(src.nbgrader_source(), "Squares"), "sq", 0.4)
    rubric = Rubric.model_validate(yaml.safe_load(files["rubric.yaml"]))
    assert rubric.weight == 0.4 and rubric.submission.notebook == "sq.ipynb" and rubric.total_points == 7.5
    loop = next(i for i in rubric.items if i.id == "loop_test")
    assert loop.auto is not None and loop.auto.checked_in_kernel and not loop.auto.partial
    assert rubric.items[0].visibility.value == "after_release"  # it has hidden tests


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            lambda: _with_meta({"grade_id": "square_test", "points": 2, "grade": True, "autograde": True}),
            "cell 3 (square_test): unknown nbgrader metadata: autograde",
        ),
        (lambda: src.nbgrader_source(extra_test="%timeit square(2)"), "cell 9 (extra): the test cell is not Python"),
        (lambda: _with_meta({"grade_id": "square_test", "points": 0, "grade": True}), "cell 3 (square_test): points 0"),
        (
            lambda: _with_meta({"grade_id": "halves_test", "points": 2, "grade": True}),
            "grade_id 'halves_test' is used twice",
        ),
    ],
)
def test_nbgrader_refusal_names_the_cell(make, expected: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ImportRefused) as info:
        read_nbgrader(make(), "x")
    assert expected in str(info.value)


def _with_meta(meta: dict[str, object]) -> nbformat.NotebookNode:
    nb = src.nbgrader_source()
    nb.cells[3].metadata = {"nbgrader": {"schema_version": 3, **meta}}
    return nb


def test_otter_refusal_names_the_question_and_cell() -> None:
    with pytest.raises(ImportRefused) as info:
        read_otter(src.otter_master(extra_config="seed_variable: rng\n"), "x")
    assert "cell 3 (q1): unknown question config: seed_variable" in str(info.value)
    nb = src.otter_master()
    nb.cells[9].outputs = [
        v4.new_output("stream", name="stdout", text="Traceback (most recent call last):\n  ...\nE\n")
    ]
    with pytest.raises(ImportRefused) as info:
        read_otter(nb, "x")
    assert "cell 9 (q1): a case that expects an exception is not supported" in str(info.value)


def test_weight_0_is_refused_for_a_source_with_manual_items() -> None:
    with pytest.raises(ImportRefused) as info:
        build_files(read_otter(src.otter_master(), "x"), "ot", 0.0)
    assert "unassessed" in str(info.value) and "q3" in str(info.value)


def test_cli_refusal_writes_nothing_and_exits_1(tmp_path: Path) -> None:
    source = tmp_path / "source.ipynb"
    nbformat.write(_with_meta({"grade_id": "square_test", "points": 2, "grade": True, "autograde": True}), str(source))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["import", "nbgrader", str(source), "--coursework", "sq", "--out", str(out)])
    assert result.exit_code == 1
    assert "cell 3 (square_test): unknown nbgrader metadata: autograde" in result.output
    assert not out.exists() or not any(out.iterdir())


def test_cli_writes_the_folder_without_check(tmp_path: Path) -> None:
    source = tmp_path / "master.ipynb"
    nbformat.write(src.otter_master(), str(source))
    args = ["import", "otter", str(source), "-c", "ot", "--out", str(tmp_path), "--no-check", "--weight", "0.5"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(tmp_path / "ot")
    assert sorted(p.relative_to(tmp_path / "ot").as_posix() for p in (tmp_path / "ot").rglob("*") if p.is_file()) == [
        "hidden/conftest.py",
        "hidden/test_imported.py",
        "rubric.yaml",
        "skeleton.ipynb",
        "solution.ipynb",
    ]
    again = CliRunner().invoke(main, args)  # re-importing replaces a folder an import made
    assert again.exit_code == 0, again.output


def test_a_folder_not_made_by_an_import_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "cw1").mkdir()
    (tmp_path / "cw1" / "rubric.yaml").write_text("coursework: cw1\n")
    files = convert_files(tmp_path)
    with pytest.raises(TargetExists):
        write_folder(files, tmp_path / "cw1")
    assert (tmp_path / "cw1" / "rubric.yaml").read_text() == "coursework: cw1\n"


def convert_files(tmp_path: Path) -> dict[str, str]:
    source = tmp_path / "source.ipynb"
    nbformat.write(src.nbgrader_source(), str(source))
    return convert("nbgrader", source, "cw1", 1.0)


def test_cell_timeout_defaults_to_nbgraders_and_can_be_set() -> None:
    nbg = yaml.safe_load(build_files(read_nbgrader(src.nbgrader_source(), "x"), "sq", 1.0)["rubric.yaml"])
    assert nbg["resources"] == {"cell_timeout_s": 30.0}  # nbgrader's Execute preprocessor's default
    otter = yaml.safe_load(build_files(read_otter(src.otter_master(), "x"), "ot", 1.0)["rubric.yaml"])
    assert "resources" not in otter  # the service's default
    otter = yaml.safe_load(build_files(read_otter(src.otter_master(), "x"), "ot", 1.0, 12.5)["rubric.yaml"])
    assert otter["resources"] == {"cell_timeout_s": 12.5}


def test_a_coursework_id_that_is_not_one_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ImportRefused) as info:
        build_files(read_otter(src.otter_master(), "x"), "../Up", 1.0)
    assert "coursework" in str(info.value)


def test_item_ids_that_differ_only_in_punctuation_get_different_tests() -> None:
    from grader.importers.tests_code import test_name

    names = {test_name(i) for i in ("q1.a", "q1_a", "q1-a")}
    assert len(names) == 3 and "test_q1_a" in names


def test_otters_fenced_markdown_form_reads_like_raw_cells() -> None:
    nb = src.otter_master()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "raw":
            nb.cells[i] = v4.new_markdown_cell("```otter\n" + cell.source + "\n```")
    imp = read_otter(nb, "x")
    assert [(i.id, i.points) for i in imp.items] == [("q1", 3.0), ("q2", 3.0), ("q3", 2.0)]
    assert not any(c.source.startswith("```otter") for c in imp.skeleton.cells)
