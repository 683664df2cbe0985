"""Graded against the real runner: the notebook defines double (right), triple (wrong), spin, die."""

import numpy as np


def test_double(student, run_seed):
    x = np.random.default_rng(run_seed).normal(size=10)
    out = student.run("y = double(x)", inputs={"x": x}, outputs=["y"])
    assert np.allclose(out["y"], 2 * x), "double(x) should be 2x"


def test_triple(student):
    assert student.run("y = triple(3)", outputs=["y"])["y"] == 9, "triple(3) should be 9"


def test_spin_times_out(student):
    student.run("spin()", timeout=1)


def test_after_timeout(student):
    assert student.run("y = double(4)", outputs=["y"])["y"] == 8


def test_die_crashes(student):
    student.run("die()")


def test_after_crash(student):
    assert student.run("y = double(5)", outputs=["y"])["y"] == 10


def test_partial(student, credit):
    credit.partial(0.5, "triple exists")
    assert student.run("y = triple(1)", outputs=["y"])["y"] == 3, "triple(1) should be 3"


def test_report(student):
    assert student.report["skipped"][0]["reason"] == "shell command"
    assert [c["status"] for c in student.report["cells"]] == ["ok", "ok"]


def test_files(submission):
    assert sorted(submission.files) == ["model.pth", "nb.ipynb"]
    assert "def triple" in submission.code
