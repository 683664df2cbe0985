"""The code cells of a stored notebook, read as JSON: never executed, never rendered."""

from __future__ import annotations

import json

from grader.notebooks.reading import NotebookUnreadable


def code_cells(data: bytes) -> list[str]:
    """Every code cell's source, in notebook order. ``NotebookUnreadable`` for what is not a notebook."""
    try:
        nb = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotebookUnreadable(f"not JSON: {exc}") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise NotebookUnreadable("the notebook has no list of cells")
    out = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if isinstance(source, str):
            out.append(source)
    return out
