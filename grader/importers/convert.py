"""One entry for both tools: a source notebook's path -> the coursework folder's files."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import nbformat

from grader.importers.model import CellProblem, ImportRefused
from grader.importers.nbgrader_source import read_nbgrader
from grader.importers.otter_master import read_otter
from grader.importers.writer import build_files

Tool = Literal["nbgrader", "otter"]


def read_source(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as exc:  # nbformat raises many kinds (JSON, validation, version)
        raise ImportRefused([CellProblem(None, path.name, f"not a readable notebook: {exc}")]) from None


def convert(
    tool: Tool,
    path: Path,
    coursework: str,
    weight: float,
    title: str | None = None,
    cell_timeout_s: float | None = None,
) -> dict[str, str]:
    """The folder's files (relative path -> text), or ImportRefused naming every cell it cannot map."""
    nb = read_source(path)
    name = title or f"{path.stem} (imported from {tool})"
    imported = read_nbgrader(nb, name) if tool == "nbgrader" else read_otter(nb, name)
    return build_files(imported, coursework, weight, cell_timeout_s)
