"""The Python source of generated judge tests: one test function per imported item."""

from __future__ import annotations

import re
import zlib
from typing import Any

from grader.importers.checks import Recognised


def test_name(item_id: str) -> str:
    """A Python name per item id; ids that differ only in ``.``/``-`` (``q1.a``, ``q1_a``) still differ."""
    name = re.sub(r"\W", "_", item_id)
    return f"test_{name}" if name == item_id else f"test_{name}_{zlib.crc32(item_id.encode()):08x}"


def nbgrader_recognised(name: str, rec: Recognised, points: float) -> str:
    return (
        f"def {name}(nbgrader_cell):\n"
        f"    # compared in the judge: the kernel only evaluates the operands\n"
        f"    nbgrader_cell(\n        {rec.steps!r},\n        {rec.checks!r},\n"
        f"        result={rec.result!r},\n        points={points!r},\n    )\n"
    )


def nbgrader_in_kernel(name: str, source: str, result: str | None, points: float) -> str:
    """``source`` runs whole in the kernel; ``result``: the cell's last expression, evaluated after it
    (``source`` is then the code before it), whose value nbgrader reads as partial credit."""
    return (
        f"def {name}(in_kernel):\n"
        f"    # checked_in_kernel: the cell runs as it is in the student's kernel (not tamper-proof)\n"
        f"    in_kernel({source!r}, result={result!r}, points={points!r})\n"
    )


def otter_question(name: str, cases: list[dict[str, Any]], all_or_nothing: bool) -> str:
    """One test per question: each case scores its points, as ``otter run`` adds them up.
    ``cases``: dicts with examples [(source, is_expression, want)], points, hidden."""
    return (
        f"def {name}(otter_case, credit):\n"
        f"    cases = {cases!r}\n"
        f"    total = sum(c['points'] for c in cases)\n"
        f"    earned, failed = 0.0, []\n"
        f"    for number, case in enumerate(cases, 1):\n"
        f"        ok, why = otter_case(case['examples'])\n"
        f"        if ok:\n"
        f"            earned += case['points']\n"
        f"        else:  # a hidden case's message never shows its code or expected output\n"
        f"            why = case['failure_message'] or why  # the author's message, where the source gives one\n"
        f"            failed.append(f\"case {{number}}\" + ('' if case['hidden'] else f\" ({{why}})\"))\n"
        f"    if failed and {not all_or_nothing!r} and total:\n"
        f"        credit.partial(earned / total)\n"
        f"    assert not failed, 'failed: ' + ', '.join(failed)\n"
    )
