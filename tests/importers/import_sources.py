"""Small nbgrader and Otter sources built in the tests (the agreement corpus has the large ones)."""

from __future__ import annotations

from typing import Any

import nbformat
from nbformat import v4


def nbg_meta(**fields: Any) -> dict[str, Any]:
    meta = {"grade": False, "solution": False, "locked": False, "schema_version": 3}
    meta.update(fields)
    return {"nbgrader": meta}


def nbgrader_source(extra_test: str | None = None, extra_points: float = 1) -> nbformat.NotebookNode:
    """Three auto items (one recognised with hidden tests, one numpy, one free-form in the kernel),
    one manual answer and one task."""
    nb = v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    cells = [
        v4.new_markdown_cell("# Squares"),
        v4.new_code_cell("import numpy as np", metadata=nbg_meta(locked=True, grade_id="imports")),
        v4.new_code_cell(
            "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
            metadata=nbg_meta(solution=True, grade_id="square_answer"),
        ),
        v4.new_code_cell(
            "assert square(3) == 9\nassert square(-2) == 4, 'negative'\n"
            "### BEGIN HIDDEN TESTS\nassert square(10) == 100\n### END HIDDEN TESTS",
            metadata=nbg_meta(grade=True, locked=True, points=2, grade_id="square_test"),
        ),
        v4.new_code_cell(
            "def halves(a):\n    ### BEGIN SOLUTION\n    return np.asarray(a) / 2\n    ### END SOLUTION",
            metadata=nbg_meta(solution=True, grade_id="halves_answer"),
        ),
        v4.new_code_cell(
            "np.testing.assert_allclose(halves([2, 4]), [1.0, 2.0])\nassert np.allclose(halves([1]), 0.5, atol=1e-6)",
            metadata=nbg_meta(grade=True, locked=True, points=1, grade_id="halves_test"),
        ),
        v4.new_code_cell(
            "for n in range(5):\n    assert square(n) == n ** 2",
            metadata=nbg_meta(grade=True, locked=True, points=1.5, grade_id="loop_test"),
        ),
        v4.new_markdown_cell(
            "Why does squaring lose the sign?\n\n### BEGIN SOLUTION\nBecause (-x)^2 = x^2.\n### END SOLUTION",
            metadata=nbg_meta(solution=True, grade=True, points=2, grade_id="why_sign"),
        ),
        v4.new_markdown_cell("Plot the squares.", metadata=nbg_meta(task=True, points=1, grade_id="plot_task")),
    ]
    if extra_test is not None:
        cells.append(v4.new_code_cell(extra_test, metadata=nbg_meta(grade=True, points=extra_points, grade_id="extra")))
    nb.cells = cells
    return nb


def raw(text: str) -> nbformat.NotebookNode:
    return v4.new_raw_cell(text)


def test_cell(source: str, output: str | None) -> nbformat.NotebookNode:
    cell = v4.new_code_cell(source)
    if output is not None:
        cell.outputs = [v4.new_output("execute_result", data={"text/plain": output}, execution_count=1)]
    return cell


def otter_master(extra_config: str = "") -> nbformat.NotebookNode:
    """q1 (two cases, one hidden, 1 + 2 points), q2 (three cases, points per question), q3 manual."""
    nb = v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    nb.cells = [
        raw("# ASSIGNMENT CONFIG\nrequirements: requirements.txt\nexport_cell: false"),
        v4.new_markdown_cell("# Lists"),
        v4.new_code_cell("import numpy as np"),
        raw("# BEGIN QUESTION\nname: q1\n" + extra_config),
        v4.new_markdown_cell("Write `double(x)`."),
        raw("# BEGIN SOLUTION"),
        v4.new_code_cell("def double(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION"),
        raw("# END SOLUTION"),
        raw("# BEGIN TESTS"),
        test_cell('""" # BEGIN TEST CONFIG\npoints: 1\n""" # END TEST CONFIG\ndouble(2)', "4"),
        test_cell('""" # BEGIN TEST CONFIG\npoints: 2\nhidden: true\n""" # END TEST CONFIG\ndouble([1])', "[1, 1]"),
        raw("# END TESTS"),
        raw("# END QUESTION"),
        raw("# BEGIN QUESTION\nname: q2\npoints: 3"),
        raw("# BEGIN SOLUTION"),
        v4.new_code_cell("values = np.arange(3) * 2  # SOLUTION\nlabel = 'evens'  # SOLUTION"),
        raw("# END SOLUTION"),
        raw("# BEGIN TESTS"),
        test_cell("values", "array([0, 2, 4])"),
        test_cell("x = label.upper()\nx", "'EVENS'"),
        test_cell("# HIDDEN\nprint(values.sum())", None),
        raw("# END TESTS"),
        raw("# END QUESTION"),
        raw("# BEGIN QUESTION\nname: q3\nmanual: true\npoints: 2"),
        v4.new_markdown_cell("Explain doubling."),
        raw("# BEGIN SOLUTION"),
        v4.new_markdown_cell("It multiplies by two."),
        raw("# END SOLUTION"),
        raw("# END QUESTION"),
    ]
    nb.cells[20].outputs = [v4.new_output("stream", name="stdout", text="6\n")]
    return nb
