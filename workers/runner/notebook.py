"""Run the student's notebook in the mode the rubric asks for, and report what happened.

The report (plain data, sent to the judge) lists every code cell with its status
(``ok``, ``error``, ``timeout``, ``crashed``, ``skipped``, ``not_run``), every statement the
runner removed with its reason, the restarts and the duration.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import nbformat

from .definitions import prepare_cell
from .kernel import KernelSession

_TEXT_CAP = 500


def _cap(text: str | None, n: int = _TEXT_CAP) -> str | None:
    if text is None:
        return None
    return text if len(text) <= n else text[: n - 1] + "…"


async def execute_notebook(
    nb: nbformat.NotebookNode,
    kernel: KernelSession,
    *,
    mode: str,
    cell_timeout_s: float,
    notebook_timeout_s: float,
    output_bytes_per_cell: int,
    max_cells: int,
) -> dict[str, Any]:
    started = time.monotonic()
    deadline = started + notebook_timeout_s
    report: dict[str, Any] = {
        "mode": mode,
        "cells": [],
        "skipped": [],
        "skipped_total": 0,
        "duration_s": 0.0,
        "restarts": 0,
        "timed_out": False,
        "error": None,
    }
    code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"]
    if len(code_cells) > max_cells:
        report["error"] = f"the notebook has {len(code_cells)} code cells, over the limit of {max_cells}"
        mode = "none"
    colab_names: set[str] = set()

    for index, cell in code_cells:
        cell.outputs = []
        cell.execution_count = None
        entry = {"index": index, "status": "not_run", "error": None, "duration_s": 0.0}
        report["cells"].append(entry)
        if mode == "none":
            continue
        prepared = prepare_cell(cell.source, colab_names)
        for skip in prepared.skipped:
            report["skipped"].append(
                {"cell": index, "line": skip.line, "source": _cap(skip.source, 200), "reason": skip.reason}
            )
        if mode == "definitions":
            for st in prepared.dropped:
                report["skipped"].append(
                    {
                        "cell": index,
                        "line": st.line,
                        "source": _cap(st.source.strip().splitlines()[0], 200),
                        "reason": st.reason,
                    }
                )
            pieces = prepared.definitions
        else:
            pieces = [prepared.code] if prepared.code.strip() else []
        if time.monotonic() >= deadline:
            report["timed_out"] = True
            entry["error"] = "notebook time limit reached"
            continue
        if not kernel.available:
            entry["error"] = "kernel unavailable"
            continue
        if prepared.error and mode == "definitions":
            entry["status"], entry["error"] = "error", _cap(prepared.error)
            continue
        if not pieces:
            entry["status"] = "skipped"
            continue

        cell_started = time.monotonic()
        budget = output_bytes_per_cell
        statuses: list[tuple[str, str | None]] = []
        for piece in pieces:
            left = deadline - time.monotonic()
            if left <= 0:
                report["timed_out"] = True
                statuses.append(("timeout", "notebook time limit reached"))
                break
            outcome = await kernel.execute_cell(piece, min(cell_timeout_s, left), budget)
            cell.outputs.extend(outcome.outputs)
            budget = max(0, budget - sum(len(json.dumps(o)) for o in outcome.outputs))
            statuses.append((outcome.status, outcome.error))
            if outcome.status in ("timeout", "crashed") and not kernel.available:
                break
        # Replayed after a restart: this cell's definitions, even if the cell itself failed.
        kernel.definitions.extend(prepared.definitions)
        worst = (
            next((s for s in statuses if s[0] in ("crashed", "timeout")), None)
            or next((s for s in statuses if s[0] == "error"), None)
            or ("ok", None)
        )
        entry["status"], entry["error"] = worst[0], _cap(worst[1])
        entry["duration_s"] = round(time.monotonic() - cell_started, 3)

    report["restarts"] = kernel.restarts
    report["skipped_total"] = len(report["skipped"])
    report["duration_s"] = round(time.monotonic() - started, 3)
    return report


def fit_report(report: dict[str, Any], max_bytes: int) -> None:
    """Shrink the report until it fits one protocol header: fewer skip entries, then shorter errors."""

    def size() -> int:
        return len(json.dumps(report))

    for keep in (1000, 100, 0):
        if size() <= max_bytes:
            return
        del report["skipped"][keep:]
    for cell in report["cells"]:
        if cell["error"]:
            cell["error"] = _cap(cell["error"], 80)
    while size() > max_bytes and report["cells"]:
        report["cells"].pop()


def capped_notebook_bytes(nb: nbformat.NotebookNode, max_bytes: int) -> bytes | None:
    """The executed notebook, dropping the largest outputs until it fits; None if even that fails."""
    try:
        data: bytes = nbformat.writes(nb).encode()
    except Exception:  # the student's notebook metadata may not validate: send it as plain JSON
        data = json.dumps(nb).encode()
    if len(data) <= max_bytes:
        return data
    nb = copy.deepcopy(nb)
    removed = []
    cells = sorted(
        (i for i, c in enumerate(nb.cells) if c.get("outputs")), key=lambda i: -len(json.dumps(nb.cells[i].outputs))
    )
    for i in cells:
        nb.cells[i].outputs = [
            nbformat.v4.new_output(
                "stream", name="stderr", text="[grader: outputs removed: notebook over the size limit]\n"
            )
        ]
        removed.append(i)
        nb.metadata["grader"] = {"outputs_removed": removed}
        data = json.dumps(nb).encode()
        if len(data) <= max_bytes:
            return data
    return None
