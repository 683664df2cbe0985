"""The hidden suite's ``conftest.py`` of an imported coursework (copied there verbatim by the writer).

Runs in the judge. Imported checks evaluate the student's expressions in the kernel, but their
values come back as *tagged data* (``ENCODER`` runs in the kernel and turns a value into JSON that
names its exact type) and are rebuilt here; reprs and comparisons are made here, out of the
student's reach. A value of any other type (a class of the student's, a subclass of ``int`` with
its own ``__repr__``) comes back as ``opaque`` and fails its check with a message.

Self-contained on purpose: it imports nothing of grader, so the folder grades anywhere.
"""

from __future__ import annotations

import doctest
import math
import operator
from typing import Any

import numpy as np
import pytest

# Sent with every call and run in the kernel's fresh namespace: ``_tag(value)`` -> JSON data.
# Exact types only (``type(v) is int``), so a subclass with a forged __repr__ or __eq__ is opaque.
ENCODER = r"""
def _grader_tag(v, depth=0):
    import sys as _sys
    if depth > 40:
        return {"t": "opaque", "type": "deeply nested value"}
    t = type(v)
    if v is None:
        return {"t": "none"}
    if t is bool:
        return {"t": "bool", "v": bool.__bool__(v)}
    if t is int:
        return {"t": "int", "v": int.__repr__(v)}
    if t is float:
        return {"t": "float", "v": float.__repr__(v)}
    if t is complex:
        return {"t": "complex", "v": [float.__repr__(v.real), float.__repr__(v.imag)]}
    if t is str:
        return {"t": "str", "v": str.__str__(v)}
    if t in (list, tuple, set, frozenset):
        return {"t": t.__name__, "v": [_grader_tag(x, depth + 1) for x in list(v)]}
    if t is dict:
        return {"t": "dict", "v": [[_grader_tag(k, depth + 1), _grader_tag(x, depth + 1)] for k, x in dict.items(v)]}
    np = _sys.modules.get("numpy")
    if np is not None:
        if t is np.ndarray and v.dtype.kind in "biufc" and v.dtype.fields is None:
            flat = [_grader_tag(x.item(), depth + 1) for x in v.reshape(-1)]
            return {"t": "ndarray", "dtype": str(v.dtype), "shape": list(v.shape), "v": flat}
        if isinstance(v, np.generic) and t.__module__ == "numpy" and v.dtype.kind in "biufc":
            return {"t": "npscalar", "dtype": str(v.dtype), "v": _grader_tag(v.item(), depth + 1)}
    torch = _sys.modules.get("torch")
    if torch is not None and t is torch.Tensor and v.layout == torch.strided and not v.is_complex():
        w = v.detach().cpu()
        flat = [_grader_tag(x, depth + 1) for x in w.reshape(-1).tolist()]
        return {"t": "tensor", "dtype": str(w.dtype), "shape": list(w.shape), "v": flat}
    return {"t": "opaque", "type": t.__name__}
"""


class Opaque(Exception):
    """A value that cannot travel as data."""


def rebuild(tagged: Any) -> Any:
    """The judge's copy of a value the kernel tagged; ``Opaque`` for one that could not travel."""
    if not isinstance(tagged, dict) or not isinstance(tagged.get("t"), str):
        raise Opaque("malformed data")
    t: str = tagged["t"]
    v: Any = tagged.get("v")
    if t == "none":
        return None
    if t == "bool":
        return bool(v)
    if t == "int":
        return int(str(v))
    if t == "float":
        return float(str(v))
    if t == "complex":
        return complex(float(v[0]), float(v[1]))
    if t == "str":
        return str(v)
    if t in ("list", "tuple", "set", "frozenset"):
        items = [rebuild(x) for x in v]
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[t](items)
    if t == "dict":
        return {rebuild(k): rebuild(x) for k, x in v}
    if t == "ndarray":
        dtype = np.dtype(str(tagged["dtype"]))
        if dtype.kind not in "biufc":
            raise Opaque(f"an array of dtype {dtype}")
        shape = tuple(int(n) for n in tagged["shape"])
        return np.array([rebuild(x) for x in v], dtype=dtype).reshape(shape)
    if t == "npscalar":
        dtype = np.dtype(str(tagged["dtype"]))
        if dtype.kind not in "biufc":
            raise Opaque(f"a numpy scalar of dtype {dtype}")
        return dtype.type(rebuild(v))
    if t == "tensor":
        import torch

        name = str(tagged["dtype"]).removeprefix("torch.")
        torch_dtype = getattr(torch, name, None)
        if not isinstance(torch_dtype, torch.dtype):
            raise Opaque(f"a tensor of dtype {name}")
        shape = tuple(int(n) for n in tagged["shape"])
        return torch.tensor([rebuild(x) for x in v], dtype=torch_dtype).reshape(shape)
    if t == "opaque":
        raise Opaque(f"a value of type {str(tagged.get('type'))[:60]}")
    raise Opaque(f"unknown kind {t[:30]!r}")


def displayed(value: Any) -> str:
    """What the interactive prompt prints for an expression's value (doctest's displayhook)."""
    return "" if value is None else repr(value) + "\n"


def output_matches(want: str, got: str) -> bool:
    """Doctest's own comparison, with the flags Otter runs it with (none)."""
    return doctest.OutputChecker().check_output(want, got, 0)


# --- the kernel side of a check: run steps, bring back tagged values ------------------------------

CASE_RUNNER = r"""
def _grader_case(_examples):
    import contextlib as _cl, io as _io
    _results = []
    for _src, _is_expr in _examples:
        _buf = _io.StringIO()
        _value = None
        try:
            with _cl.redirect_stdout(_buf):
                if _is_expr:
                    _value = eval(compile(_src, "<test>", "eval"), globals())
                else:
                    exec(compile(_src, "<test>", "exec"), globals())
        except BaseException as _e:
            _results.append({"stdout": _buf.getvalue(), "error": type(_e).__name__})
            break
        _results.append({"stdout": _buf.getvalue(), "value": _grader_tag(_value)})
    return _results
out = _grader_case(EXAMPLES)
"""

STEPS_RUNNER = r"""
def _grader_steps(_steps):
    _captured = []
    for _kind, _src in _steps:
        if _kind == "exec":
            exec(compile(_src, "<test>", "exec"), globals())
        else:
            _captured.append(_grader_tag(eval(compile(_src, "<test>", "eval"), globals())))
    return _captured
out = _grader_steps(STEPS)
"""


def _call(student: Any, program: str) -> Any:
    try:
        return student.run(ENCODER + program, outputs=["out"])["out"]
    except Exception as exc:
        # The student's code raised (workers.judge.api.StudentException, matched by name so that
        # this file imports nothing of grader or workers): the check fails, as in the tool. A
        # timeout, a crash or a protocol violation goes on up to the judge.
        if "StudentException" not in [k.__name__ for k in type(exc).__mro__]:
            raise
        raise AssertionError(f"your code raised {getattr(exc, 'name', 'an exception')}") from None


@pytest.fixture
def otter_case(student: Any):
    """``otter_case(examples)``: run one Otter (OK-format) case; (passed, message). ``examples`` is
    [(source, is_expression, want)] as doctest parsed them from the case. The kernel runs them in
    order in a fresh copy of the student's globals and returns each one's printed text and value
    as data; the repr is made here and compared with doctest's checker, as Otter compares."""

    def run(examples: list[tuple[str, bool, str]]) -> tuple[bool, str]:
        program = CASE_RUNNER.replace("EXAMPLES", repr([[src, is_expr] for src, is_expr, _ in examples]))
        try:
            results = _call(student, program)
        except AssertionError as exc:
            return False, str(exc)
        for index, (res, (_, _, want)) in enumerate(zip(results, examples, strict=False)):
            if "error" in res:
                return False, f"line {index + 1} raised {str(res['error'])[:60]}"
            try:
                got = str(res["stdout"]) + displayed(rebuild(res["value"]))
            except Opaque as exc:
                return False, f"line {index + 1}: {exc} cannot be checked (it does not travel as data)"
            if not output_matches(want, got):
                return False, f"line {index + 1}: the output is not the expected one"
        if len(results) < len(examples):  # the kernel gave up early without an error: never passes
            return False, "the case did not run to its end"
        return True, ""

    return run


COMPARE = {
    "Eq": operator.eq,
    "NotEq": operator.ne,
    "Lt": operator.lt,
    "LtE": operator.le,
    "Gt": operator.gt,
    "GtE": operator.ge,
    "In": lambda a, b: a in b,
    "NotIn": lambda a, b: a not in b,
    "Is": operator.is_,
    "IsNot": operator.is_not,
}


def _numpy_check(name: str) -> Any:
    if name.startswith("testing."):
        return getattr(np.testing, name.split(".", 1)[1])
    if name.startswith("math."):
        return getattr(math, name.split(".", 1)[1])
    return getattr(np, name)


def judge_check(check: dict[str, Any], values: list[Any]) -> None:
    """Apply one recognised check to the rebuilt values, here in the judge. Raises AssertionError."""
    args = [values[i] if src == "kernel" else lit for src, i, lit in check["args"]]
    kwargs = {k: (values[i] if src == "kernel" else lit) for k, (src, i, lit) in check["kwargs"].items()}
    kind = check["kind"]
    if kind == "compare":
        ok = bool(COMPARE[check["op"]](*args))
    elif kind == "truth":
        ok = bool(args[0])
    elif kind == "call":  # np.allclose(a, b, ...) -> its truth; np.testing.assert_* raises itself
        result = _numpy_check(check["func"])(*args, **kwargs)
        ok = True if check["func"].startswith("testing.") else bool(np.all(result))
    else:
        raise AssertionError(f"unknown check kind {kind!r}")
    if not ok:
        raise AssertionError("check failed")


def nbgrader_partial(tagged: Any, points: float) -> float:
    """The share of the cell's points nbgrader gives for the cell's last value: a number from 0 to the
    points is partial credit, anything else (None, text, a value that cannot travel) full credit, a
    number above the points none (nbgrader refuses it)."""
    try:
        value = rebuild(tagged)
    except Opaque:
        return 1.0
    if value is None:
        return 1.0
    try:
        grade = float(repr(value))
    except ValueError:
        return 1.0
    if grade < 0 or math.isnan(grade):
        return 1.0
    return grade / points if grade <= points else 0.0


@pytest.fixture
def nbgrader_cell(student: Any, credit: Any):
    """``nbgrader_cell(steps, checks)``: run an imported nbgrader test cell whose checks were
    recognised. ``steps`` run in order in a fresh copy of the student's globals (``exec`` steps
    run there; ``eval`` steps bring back their value as data); ``checks`` then compare those values
    here. The first failing check fails the cell (all or nothing, as nbgrader scores it)."""

    def run(
        steps: list[tuple[str, str]], checks: list[dict[str, Any]], result: int | None = None, points: float = 1.0
    ) -> None:
        program = STEPS_RUNNER.replace("STEPS", repr([list(s) for s in steps]))
        tagged = _call(student, program)
        try:
            values = [rebuild(t) if i != result else None for i, t in enumerate(tagged)]
        except Opaque as exc:
            raise AssertionError(f"{exc} cannot be checked (it does not travel as data)") from None
        for number, check in enumerate(checks, 1):
            try:
                judge_check(check, values)
            except AssertionError:
                raise AssertionError(f"check {number} of {len(checks)} failed") from None
            except Exception as exc:  # a comparison that raises (an ambiguous array truth) fails too
                raise AssertionError(f"check {number} of {len(checks)} failed ({type(exc).__name__})") from None
        if result is not None:
            _score(credit, nbgrader_partial(tagged[result], points))

    return run


def _score(credit: Any, fraction: float) -> None:
    if fraction < 1.0:
        credit.score(fraction, "partial credit from the cell's value")
        if fraction == 0.0:
            raise AssertionError("the cell's value is more than its points")


@pytest.fixture
def in_kernel(student: Any, credit: Any):
    """``in_kernel(source, result=None, points=1)``: run an nbgrader test cell as it is, in a fresh
    copy of the student's globals in the kernel; it passes when it raises nothing. ``result``: the
    cell's last expression, whose value (as data) nbgrader reads as partial credit. NOT tamper-proof:
    the student's code shares that kernel (the rubric marks such items ``checked_in_kernel``)."""

    def run(source: str, result: str | None = None, points: float = 1.0) -> None:
        tail = f"\nout = _grader_tag({result})\n" if result is not None else "\nout = None\n"
        tagged = _call(student, source + tail)
        if result is not None:
            _score(credit, nbgrader_partial(tagged, points))

    return run
