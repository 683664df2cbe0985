"""Writing a coursework's notebooks: one list of cells gives both the skeleton and the solution.

Used by each ``rubrics/<cw>/build.py``. A cell is markdown, given code (the same text in both
notebooks), or a task (the skeleton's stub and the solution's code). Cell ids are fixed, so the
output is stable and sample submissions can find cells by id.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat import v4

ANSWER_STUB = "*Your answer here.*"
WHICH = ("skeleton", "solution")


@dataclass(frozen=True)
class Cell:
    id: str
    kind: str  # "markdown" or "code"
    solution: str
    skeleton: str | None = None  # None: the same text in both notebooks


def md(id: str, text: str, skeleton: str | None = None) -> Cell:
    return Cell(id, "markdown", _clean(text), _clean(skeleton) if skeleton is not None else None)


def code(id: str, solution: str, skeleton: str | None = None) -> Cell:
    return Cell(id, "code", _clean(solution), _clean(skeleton) if skeleton is not None else None)


def _clean(text: str) -> str:
    return dedent(text).strip("\n")


def build_notebook(cells: Iterable[Cell], which: str) -> nbformat.NotebookNode:
    """The ``skeleton`` or the ``solution`` notebook of ``cells``, validated."""
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, not {which!r}")
    nb: nbformat.NotebookNode = v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for cell in cells:
        text = cell.solution if which == "solution" or cell.skeleton is None else cell.skeleton
        if cell.kind == "markdown":
            nb.cells.append(v4.new_markdown_cell(text, id=cell.id))
        else:
            nb.cells.append(v4.new_code_cell(text, id=cell.id))
    nbformat.validate(nb)
    return nb


def write_notebooks(cells: Iterable[Cell], out_dir: Path) -> list[Path]:
    """``skeleton.ipynb`` and ``solution.ipynb`` in ``out_dir``."""
    cells = list(cells)
    paths = []
    for which in WHICH:
        path = out_dir / f"{which}.ipynb"
        nbformat.write(build_notebook(cells, which), str(path))
        paths.append(path)
    return paths


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    """A zip with fixed timestamps, so rebuilding it from the same bytes gives the same file."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
