"""Editing a sample notebook the way a student would: find a cell by its fixed id, change one line.
Shared by tests/cw1_submissions.py and tests/cw2_submissions.py."""

from __future__ import annotations

import nbformat


def cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    for found in nb.cells:
        if found.get("id") == cell_id:
            return found
    raise KeyError(f"no cell {cell_id!r} in the notebook")


def sub(nb: nbformat.NotebookNode, cell_id: str, old: str, new: str) -> None:
    """Replace ``old`` (which must occur exactly once) in a cell's source."""
    target = cell(nb, cell_id)
    count = target.source.count(old)
    if count != 1:
        raise ValueError(f"cell {cell_id!r}: {old!r} occurs {count} times, expected once")
    target.source = target.source.replace(old, new)
