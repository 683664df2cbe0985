"""Tiny courseworks for the job-cost benchmarks (overhead.py, throughput.py): one cell, one hidden
test that calls into the kernel once; one notebook imports numpy, the other torch."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.rubrics.loader import CourseworkFiles  # noqa: E402
from grader.rubrics.model import Rubric  # noqa: E402

CELLS = {
    "numpy": "import numpy as np\n\ndef add_one(x):\n    return int(np.int64(x) + 1)",
    "torch": "import torch\n\ndef add_one(x):\n    return int(torch.tensor(x) + 1)",
}
HIDDEN = 'def test_add(student):\n    assert student.run("y = add_one(x)", inputs={"x": 1}, outputs=["y"])["y"] == 2\n'


def tiny_coursework(root: Path, kind: str) -> tuple[CourseworkFiles, Path]:
    """The coursework (hidden suite under ``root``) and a notebook that earns its one point."""
    folder = root / f"tiny-{kind}"
    (folder / "hidden").mkdir(parents=True, exist_ok=True)
    (folder / "hidden" / "test_one.py").write_text(HIDDEN)
    rubric = Rubric.model_validate(
        {
            "coursework": f"tiny{kind}",
            "title": f"One {kind} cell",
            "weight": 0.1,
            "total_points": 1,
            "submission": {"notebook": "tiny.ipynb"},
            "mode": "full",
            "parts": [{"id": "1", "title": "One", "points": 1}],
            "items": [
                {"id": "add", "part": "1", "title": "Add", "points": 1, "auto": {"tests": ["test_one.py::test_add"]}}
            ],
        }
    )
    notebook = folder / "tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELLS[kind])]), notebook)
    return CourseworkFiles(rubric=rubric, folder=folder, hidden=folder / "hidden"), notebook
