"""What a reader makes of a source notebook, and the refusal that names the cells it cannot map."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import nbformat


@dataclass(frozen=True)
class CellProblem:
    """One reason the source cannot be converted fully: the cell's index, its label (nbgrader's
    grade_id, Otter's question name) and what is wrong."""

    index: int | None
    label: str
    reason: str

    def __str__(self) -> str:
        where = f"cell {self.index}" if self.index is not None else "notebook"
        return f"{where} ({self.label or 'no id'}): {self.reason}"


class ImportRefused(Exception):
    """The source cannot be converted fully; nothing is written."""

    def __init__(self, problems: list[CellProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class ImportedItem:
    id: str
    title: str
    points: float
    kind: Literal["auto", "manual"]
    hidden_tests: bool = False  # some of its tests are hidden from students (shown after release)
    test_name: str | None = None  # the judge test's function name (auto items)
    test_source: str | None = None  # the judge test's code (auto items)
    checked_in_kernel: bool = False  # its check runs inside the student's kernel (not tamper-proof)
    all_or_nothing: bool = False


@dataclass
class Imported:
    tool: Literal["nbgrader", "otter"]
    title: str
    items: list[ImportedItem]
    solution: nbformat.NotebookNode
    skeleton: nbformat.NotebookNode
    notes: list[str] = field(default_factory=list)
