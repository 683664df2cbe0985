"""Recognising the checks of an nbgrader test cell, so the judge can make the comparison.

A cell is *recognised* when every top-level statement is either a check we know
(``assert A <op> B``, ``assert EXPR``, ``assert np.allclose(A, B, ...)``, ``np.testing.assert_*(A, B)``)
or plain set-up (imports, assignments, a bare expression such as ``print(...)``). Then the cell's
statements run in order in the kernel, each check's operands come back as data, and the judge
applies the comparison. Anything else (loops, ``if``, ``try``, function definitions, ``assert a and
b``) leaves the cell unrecognised: it runs whole in the kernel, not tamper-proof.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

# np.<name>(a, b, ...): judged by its truth. np.testing.<name>: raises itself.
NUMPY_TRUTH = {"allclose", "isclose", "array_equal", "array_equiv"}
NUMPY_TESTING = {
    "assert_allclose",
    "assert_array_equal",
    "assert_array_almost_equal",
    "assert_almost_equal",
    "assert_equal",
    "assert_approx_equal",
    "assert_array_less",
}
NUMPY_MODULES = {"np", "numpy"}
TESTING_MODULES = {"np.testing", "numpy.testing", "npt"}
COMPARE_OPS = {
    ast.Eq: "Eq",
    ast.NotEq: "NotEq",
    ast.Lt: "Lt",
    ast.LtE: "LtE",
    ast.Gt: "Gt",
    ast.GtE: "GtE",
    ast.In: "In",
    ast.NotIn: "NotIn",
    ast.Is: "Is",
    ast.IsNot: "IsNot",
}
SETUP = (ast.Import, ast.ImportFrom, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Pass)
VALUE_NODES = (ast.Name, ast.Call, ast.Attribute, ast.Subscript)


@dataclass
class Recognised:
    """``steps``: ("exec", source) or ("eval", expression) in order; each eval step's value is the next
    captured value. ``checks``: dicts the judge's ``judge_check`` applies to the captured values."""

    steps: list[tuple[str, str]]
    checks: list[dict[str, Any]]
    result: int | None = None  # the captured value of the cell's last expression (nbgrader's partial credit)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def check_function(call: ast.Call) -> str | None:
    """The judge-side name of a recognised numpy/math check (``allclose``, ``testing.assert_allclose``,
    ``math.isclose``), or None."""
    name = _dotted(call.func)
    if name is None:
        return None
    module, _, attr = name.rpartition(".")
    if module in NUMPY_MODULES and attr in NUMPY_TRUTH:
        return attr
    if (module in TESTING_MODULES or module == "") and attr in NUMPY_TESTING:
        return f"testing.{attr}"
    if name == "math.isclose":
        return name
    return None


class _Builder:
    def __init__(self) -> None:
        self.steps: list[tuple[str, str]] = []
        self.captured = 0

    def operand(self, node: ast.expr) -> tuple[str, int, Any]:
        """A literal stays in the judge; anything else is evaluated in the kernel and brought back."""
        if not isinstance(node, ast.Name):
            try:
                return ("literal", 0, ast.literal_eval(node))
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                pass
        self.steps.append(("eval", ast.unparse(node)))
        self.captured += 1
        return ("kernel", self.captured - 1, None)

    def call_check(self, call: ast.Call, func: str) -> dict[str, Any] | None:
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            return None
        args = [self.operand(a) for a in call.args]
        kwargs = {k.arg: self.operand(k.value) for k in call.keywords if k.arg is not None}
        return {"kind": "call", "func": func, "args": args, "kwargs": kwargs}

    def assert_check(self, test: ast.expr) -> dict[str, Any] | None:
        if isinstance(test, ast.Compare):
            if len(test.ops) != 1 or type(test.ops[0]) not in COMPARE_OPS:
                return None
            op = COMPARE_OPS[type(test.ops[0])]
            right = test.comparators[0]
            # identity means nothing for rebuilt copies, except against the singletons
            if op in ("Is", "IsNot") and not (isinstance(right, ast.Constant) and right.value in (None, True, False)):
                return None
            args = [self.operand(test.left), self.operand(right)]
            return {"kind": "compare", "op": op, "args": args, "kwargs": {}}
        if isinstance(test, ast.Call):
            func = check_function(test)
            if func is not None and not func.startswith("testing."):
                return self.call_check(test, func)
        if isinstance(test, VALUE_NODES):
            return {"kind": "truth", "args": [self.operand(test)], "kwargs": {}}
        return None


def recognise(source: str) -> Recognised | None:
    """The cell's steps and checks, or None when it must run whole in the kernel (or has no check)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    builder = _Builder()
    checks: list[dict[str, Any]] = []
    for stmt in tree.body:
        check: dict[str, Any] | None = None
        if isinstance(stmt, ast.Assert):
            check = builder.assert_check(stmt.test)
            if check is None:
                return None
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            func = check_function(stmt.value)
            if func is not None and func.startswith("testing."):
                check = builder.call_check(stmt.value, func)
                if check is None:
                    return None
        if check is not None:
            checks.append(check)
        elif isinstance(stmt, ast.Pass):
            continue
        elif isinstance(stmt, SETUP):
            builder.steps.append(("exec", ast.unparse(stmt)))
        else:
            return None
    if not checks:
        return None
    result = None
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr) and builder.steps and builder.steps[-1] == ("exec", ast.unparse(last)):
        # the cell's value: nbgrader reads a number there as partial credit
        builder.steps[-1] = ("eval", ast.unparse(last.value))
        builder.captured += 1
        result = builder.captured - 1
    return Recognised(steps=builder.steps, checks=checks, result=result)


def last_expression(source: str) -> tuple[str, str] | None:
    """(the code before it, the expression) when the cell ends in an expression on lines of its own,
    whose value nbgrader would read as partial credit; None otherwise."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return None
    last = tree.body[-1]
    before = tree.body[-2] if len(tree.body) > 1 else None
    if last.col_offset != 0 or (before is not None and (before.end_lineno or 0) >= last.lineno):
        return None  # `a; b` on one line: leave the cell whole
    lines = source.split("\n")
    return "\n".join(lines[: last.lineno - 1]), ast.unparse(last.value)
