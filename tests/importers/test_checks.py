"""Recognising nbgrader checks, and applying them in the judge to values rebuilt from tagged data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from grader.importers import judge_conftest as jc
from grader.importers.checks import recognise


def test_asserts_and_numpy_checks_are_recognised_with_their_setup_in_order() -> None:
    rec = recognise(
        "import numpy as np\n"
        "x = f(3)\n"
        "assert x == 9, 'nine'\n"
        "assert g(x) < 1.5\n"
        "np.testing.assert_allclose(h([1, 2]), [0.5, 1.0], rtol=1e-3)\n"
        "assert np.allclose(h(1), half)\n"
        "assert is_ready(x)\n"
        "assert f(0) is None\n"
    )
    assert rec is not None
    assert rec.steps == [
        ("exec", "import numpy as np"),
        ("exec", "x = f(3)"),
        ("eval", "x"),
        ("eval", "g(x)"),
        ("eval", "h([1, 2])"),
        ("eval", "h(1)"),
        ("eval", "half"),
        ("eval", "is_ready(x)"),
        ("eval", "f(0)"),
    ]
    kinds = [(c["kind"], c.get("op") or c.get("func")) for c in rec.checks]
    assert kinds == [
        ("compare", "Eq"),
        ("compare", "Lt"),
        ("call", "testing.assert_allclose"),
        ("call", "allclose"),
        ("truth", None),
        ("compare", "Is"),
    ]
    # literals stay in the judge: the student's kernel never sees the expected value
    assert rec.checks[0]["args"] == [("kernel", 0, None), ("literal", 0, 9)]
    assert rec.checks[2]["kwargs"] == {"rtol": ("literal", 0, 1e-3)}


@pytest.mark.parametrize(
    "source",
    [
        "for n in range(3):\n    assert f(n) == n",  # a loop
        "if f(1):\n    assert True",
        "def helper():\n    return 1\nassert helper() == 1",
        "assert f(1) == 1 and f(2) == 2",  # the comparison would happen in the kernel
        "assert 0 < f(1) < 2",  # a chain
        "assert f(1) is g(1)",  # identity of rebuilt copies means nothing
        "f(1)\nprint('ran')",  # no check at all
        "%timeit f(1)",  # not Python
    ],
)
def test_what_is_not_recognised_runs_whole_in_the_kernel(source: str) -> None:
    assert recognise(source) is None


def _roundtrip(value: object) -> object:
    """The kernel's encoder then the judge's rebuild, through JSON as the protocol carries it."""
    ns: dict[str, object] = {}
    exec(jc.ENCODER, ns)
    tagged = json.loads(json.dumps(ns["_grader_tag"](value)))  # type: ignore[operator]
    return jc.rebuild(tagged)


@pytest.mark.parametrize(
    "value",
    [None, True, 3, 2**80, 0.1, float("nan"), 1 + 2j, "a\nb", [1, (2, 3)], {"k": {1, 2}}, {1: "x"}, frozenset({4})],
)
def test_plain_values_come_back_with_their_exact_repr(value: object) -> None:
    assert repr(_roundtrip(value)) == repr(value)


def test_arrays_and_numpy_scalars_come_back_with_dtype_and_shape() -> None:
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    got = _roundtrip(a)
    assert isinstance(got, np.ndarray) and got.dtype == np.int32 and repr(got) == repr(a)
    assert repr(_roundtrip(np.float32(0.5))) == repr(np.float32(0.5))
    assert repr(_roundtrip(np.array([True, False]))) == "array([ True, False])"


class ForgedInt(int):
    def __repr__(self) -> str:
        return "4"


class Anything:
    def __eq__(self, other: object) -> bool:
        return True


@pytest.mark.parametrize("value", [ForgedInt(7), Anything(), [1, Anything()], np.array(["a"])])
def test_a_value_that_could_forge_its_repr_or_equality_does_not_travel(value: object) -> None:
    with pytest.raises(jc.Opaque):
        _roundtrip(value)


def test_judge_checks_compare_in_the_judge() -> None:
    check = {"kind": "compare", "op": "Eq", "args": [("kernel", 0, None), ("literal", 0, 9)], "kwargs": {}}
    jc.judge_check(check, [9])
    with pytest.raises(AssertionError):
        jc.judge_check(check, [8])
    with pytest.raises(AssertionError):  # a tuple is not the list it was compared with
        jc.judge_check({**check, "args": [("kernel", 0, None), ("literal", 0, [1])]}, [(1,)])
    close = {"kind": "call", "func": "allclose", "args": [("kernel", 0, None), ("literal", 0, 0.5)], "kwargs": {}}
    jc.judge_check(close, [np.array([0.5, 0.5000001])])
    with pytest.raises(AssertionError):
        jc.judge_check(close, [np.array([0.6])])
    testing = {
        "kind": "call",
        "func": "testing.assert_allclose",
        "args": [("kernel", 0, None), ("kernel", 1, None)],
        "kwargs": {},
    }
    with pytest.raises(AssertionError):
        jc.judge_check(testing, [np.array([1.0]), np.array([2.0])])


def test_doctest_comparison_is_otters() -> None:
    assert jc.output_matches("4\n", jc.displayed(4))
    assert jc.output_matches("", jc.displayed(None))
    assert jc.output_matches("1\n", jc.displayed(True))  # doctest accepts True where 1 is expected, as Otter does
    assert not jc.output_matches("4\n", jc.displayed(4.0))


def test_tensors_come_back_as_tensors() -> None:
    import torch

    t = torch.tensor([[1.5, 2.0]], dtype=torch.float64)
    got = _roundtrip(t)
    assert isinstance(got, torch.Tensor) and repr(got) == repr(t)


def test_a_cells_last_value_is_nbgraders_partial_credit() -> None:
    from grader.importers.checks import last_expression

    rec = recognise("assert f(1) == 1\nf(2) / 2")
    assert rec is not None and rec.steps[-1] == ("eval", "f(2) / 2") and rec.result == 1
    assert recognise("assert f(1) == 1\nprint('done')").result == 1  # type: ignore[union-attr]  # None: full
    assert recognise("np.testing.assert_equal(f(1), 1)").result is None  # type: ignore[union-attr]
    assert last_expression("s = 0\nfor i in range(3):\n    s += i\ns") == ("s = 0\nfor i in range(3):\n    s += i", "s")
    assert last_expression("for i in range(3):\n    pass") is None
    assert last_expression("a = 1; a") is None

    def tag(value: object) -> object:
        ns: dict[str, object] = {}
        exec(jc.ENCODER, ns)
        return ns["_grader_tag"](value)  # type: ignore[operator]

    assert jc.nbgrader_partial(tag(1.5), 3.0) == 0.5
    assert jc.nbgrader_partial(tag(None), 3.0) == 1.0
    assert jc.nbgrader_partial(tag("all good"), 3.0) == 1.0  # not a number: full credit, as nbgrader
    assert jc.nbgrader_partial(tag(-1), 3.0) == 1.0  # nbgrader: "strange", full credit
    assert jc.nbgrader_partial(tag(4), 3.0) == 0.0  # more than the points: nbgrader refuses it
    assert jc.nbgrader_partial(tag(Anything()), 3.0) == 1.0
