"""The judge's pytest plugin: fixtures, outcomes, partial credit, messages, and the end of a violated run.

Each suite runs in a fresh interpreter (plugin_harness.py) with a scripted stand-in for the kernel.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

HARNESS = Path(__file__).with_name("plugin_harness.py")
REPO = Path(__file__).resolve().parents[2]


def judge(tmp_path: Path, tests: dict[str, str], files: dict[str, str] | None = None) -> dict:
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for name, src in tests.items():
        (hidden / name).write_text(textwrap.dedent(src))
    sub = tmp_path / "submission"
    sub.mkdir()
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# CW"),
            nbformat.v4.new_code_cell("import torch"),
            nbformat.v4.new_code_cell("def f(x):\n    return 2 * x"),
        ]
    )
    nbformat.write(nb, sub / "nb.ipynb")
    for name, text in (files or {}).items():
        (sub / name).write_text(text)
    proc = subprocess.run(
        [sys.executable, str(HARNESS), str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    marker = next((ln for ln in proc.stdout.splitlines() if ln.startswith("@@RESULT@@")), None)
    assert marker, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(marker[len("@@RESULT@@") :])


def outcomes(result: dict) -> dict[str, tuple[str, float]]:
    return {k.split("::")[1]: (v["outcome"], v["fraction"]) for k, v in result["tests"].items()}


def test_outcomes_and_credit(tmp_path):
    result = judge(
        tmp_path,
        {
            "test_a.py": """
        import pytest

        def test_pass(student):
            assert student.run("y = f(2)", outputs=["y"]) == {"y": 42}

        def test_fail(student):
            assert student.run("y = 1", outputs=["y"])["y"] == 41, "f(2) should be 4"

        def test_timeout(student):
            student.run("timeout", timeout=3)

        def test_student_raised(student):
            student.run("raise")

        def test_crash(student):
            student.run("crash")

        def test_floor_then_fail(student, credit):
            credit.partial(0.25, "layer exists")
            credit.partial(0.5, "shape right")
            credit.partial(0.3, "lower floor loses")
            assert False, "values wrong"

        def test_floor_then_timeout(student, credit):
            credit.partial(0.5)
            student.run("timeout")

        def test_scored_pass(student, credit):
            credit.score(0.6, "accuracy 81%: band 0.6")

        def test_score_then_fail(credit):
            credit.score(0.9)
            assert False

        def test_test_bug(student):
            [][1]

        def test_skipped():
            pytest.skip("not this year")

        @pytest.fixture
        def broken_fixture(student):
            student.run("timeout")

        def test_fixture_timeout(broken_fixture):
            pass

        @pytest.mark.xfail
        def test_xfail():
            assert False
    """
        },
    )
    assert result["error"] is None
    assert outcomes(result) == {
        "test_pass": ("passed", 1.0),
        "test_fail": ("failed", 0.0),
        "test_timeout": ("timeout", 0.0),
        "test_student_raised": ("error", 0.0),
        "test_crash": ("error", 0.0),
        "test_floor_then_fail": ("failed", 0.5),
        "test_floor_then_timeout": ("timeout", 0.5),
        "test_scored_pass": ("passed", 0.6),
        "test_score_then_fail": ("failed", 0.0),
        "test_test_bug": ("failed", 0.0),
        "test_skipped": ("skipped", 0.0),
        "test_fixture_timeout": ("timeout", 0.0),
        "test_xfail": ("failed", 0.0),
    }
    messages = {k.split("::")[1]: v["message"] for k, v in result["tests"].items()}
    assert messages["test_fail"] == "f(2) should be 4"
    assert messages["test_timeout"] == "your code timed out (over 3s)"
    assert messages["test_floor_then_fail"] == "values wrong"
    assert messages["test_scored_pass"] == "accuracy 81%: band 0.6"
    assert messages["test_test_bug"] == "IndexError: list index out of range"
    assert messages["test_skipped"] == "not this year"
    # The student's own exception text can carry hidden inputs: never echoed.
    assert messages["test_student_raised"] == "your code raised ValueError"
    assert "7" not in messages["test_student_raised"]
    assert all(v["duration_s"] >= 0 for v in result["tests"].values())
    assert result["collected"][0] == "test_a.py::test_pass"


def test_messages_never_show_values_a_bare_assert_compared(tmp_path):
    result = judge(
        tmp_path,
        {
            "test_m.py": """
        HIDDEN_LABEL = 7

        def test_bare(student):
            assert student.run("y", outputs=["y"])["y"] == HIDDEN_LABEL

        def test_long(student):
            assert False, "x" * 2000 + "\\nsecond line"

        def test_custom_exception_name(student):
            student.run("raise custom")
    """
        },
    )
    msgs = {k.split("::")[1]: v["message"] for k, v in result["tests"].items()}
    assert msgs["test_bare"] == "assertion failed"
    assert len(msgs["test_long"]) == 500 and "second" not in msgs["test_long"]
    assert msgs["test_custom_exception_name"] == "your code raised an exception"


def test_after_a_violation_no_student_test_passes(tmp_path):
    result = judge(
        tmp_path,
        {
            "test_v.py": """
        from workers.judge.api import StudentError

        def test_before(student):
            assert student.run("y", outputs=["y"])["y"] == 42

        def test_violating(student, credit):
            credit.partial(0.4, "earned before the violation")
            try:
                student.run("violate")
            except StudentError:
                credit.partial(1.0, "claimed after it")  # does not count

        def test_swallows_errors(student, credit):
            try:
                student.run("y", outputs=["y"])
            except Exception:
                pass
            credit.partial(1.0)

        def test_never_calls_student(student):
            assert student is not None

        def test_submission_only(submission):
            assert "def f" in submission.code
            assert submission.cells == ["import torch", "def f(x):\\n    return 2 * x"]
            assert sorted(submission.files) == ["model.txt", "nb.ipynb"]

        def test_seed_and_dir(run_seed, hidden_dir):
            assert run_seed == 1234 and (hidden_dir / "test_v.py").exists()
    """
        },
        files={"model.txt": "weights"},
    )
    assert outcomes(result) == {
        "test_before": ("passed", 1.0),
        "test_violating": ("error", 0.4),
        "test_swallows_errors": ("error", 0.0),
        "test_never_calls_student": ("error", 0.0),
        "test_submission_only": ("passed", 1.0),
        "test_seed_and_dir": ("passed", 1.0),
    }
    assert "protocol" in result["tests"]["test_v.py::test_swallows_errors"]["message"]


def test_suite_layout_node_ids_and_no_caches(tmp_path):
    result = judge(
        tmp_path,
        {
            "conftest.py": """
            import pytest

            @pytest.fixture(scope="module")
            def doubled(student):
                return student.run("y = f(21)", outputs=["y"])["y"]
        """,
            "test_layers.py": """
            def test_conv2d_stride(doubled):
                assert doubled == 42
        """,
        },
    )
    assert outcomes(result) == {"test_conv2d_stride": ("passed", 1.0)}
    assert list(result["tests"]) == ["test_layers.py::test_conv2d_stride"]
    assert not list((tmp_path / "hidden").rglob("__pycache__"))
    assert not list((tmp_path / "hidden").rglob(".pytest_cache"))


def test_a_parent_conftest_and_config_do_not_leak_in(tmp_path):
    (tmp_path / "conftest.py").write_text("import pytest\n@pytest.fixture\ndef student():\n    return 'hijacked'\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --this-option-does-not-exist\n")
    result = judge(
        tmp_path,
        {
            "test_c.py": """
        def test_real_student(student):
            assert student != "hijacked"
    """
        },
    )
    assert outcomes(result) == {"test_real_student": ("passed", 1.0)}


def test_collection_errors_are_the_suite_s_fault(tmp_path):
    result = judge(tmp_path, {"test_ok.py": "def test_ok():\n    pass\n", "test_broken.py": "import does_not_exist\n"})
    assert outcomes(result) == {"test_ok": ("passed", 1.0)}
    assert result["error"] == "the hidden suite has collection errors: test_broken.py"


@pytest.mark.parametrize("bad", [float("nan")])
def test_credit_rejects_nan(bad):
    from workers.judge.api import Credit

    with pytest.raises(ValueError):
        Credit().partial(bad)
    c = Credit()
    c.partial(7)  # clamped
    assert c.fraction(False) == 1.0


def test_an_artifact_records_the_test_whose_body_drew_it_and_a_fixtures_none(tmp_path):
    # The rubric maps the recorded test to its item, whose visibility decides who sees the picture; a
    # fixture's picture may serve several tests (of items of any visibility), so it belongs to none.
    result = judge(
        tmp_path,
        {
            "test_draw.py": """
        import numpy as np
        import pytest

        @pytest.fixture(scope="session")
        def shared(artifacts):
            artifacts.image("session-setup", np.zeros((2, 2)))
            return 1

        @pytest.fixture
        def around(artifacts):
            artifacts.image("function-setup", np.zeros((2, 2)))
            yield
            artifacts.image("function-teardown", np.zeros((2, 2)))

        def test_first(shared, around, artifacts):
            artifacts.image("first-body", np.zeros((2, 2)))

        def test_failing(artifacts):
            artifacts.grid("failing-body", np.zeros((1, 1, 2, 2)))
            assert False, "drawn, then failed"

        @pytest.mark.parametrize("k", [1])
        def test_param(artifacts, k):
            artifacts.image(f"param-body-{k}", np.zeros((2, 2)))
    """
        },
    )
    assert result["error"] is None, result
    drawn = {a["name"]: a["test"] for a in result["artifacts"]}
    assert drawn == {
        "session-setup": None,
        "function-setup": None,
        "first-body": "test_draw.py::test_first",
        "function-teardown": None,
        "failing-body": "test_draw.py::test_failing",
        "param-body-1": "test_draw.py::test_param[1]",
    }
    assert outcomes(result)["test_failing"] == ("failed", 0.0)


def test_hidden_data_tests_never_quote_an_exception(tmp_path):
    """A test that reaches hidden data (through ``hidden_dir``, directly or via a fixture, or marked
    ``hidden_data``) fails with the judge's fixed text: the student's code saw hidden inputs and may
    have put them into whatever it raised, and the judge's own errors may quote what it sent back."""
    result = judge(
        tmp_path,
        {
            "conftest.py": """
        import pytest

        @pytest.fixture
        def hidden_images(hidden_dir):
            return [0.7316, 0.2718]
        """,
            "test_h.py": """
        import pytest

        def test_raises_via_fixture(student, hidden_images):
            student.run("raise", inputs={"x": hidden_images})

        def test_raises_with_hidden_dir(student, hidden_dir):
            student.run("raise")

        @pytest.mark.hidden_data
        def test_raises_marked(student):
            student.run("raise")

        @pytest.mark.hidden_data
        def test_custom_exception_marked(student):
            student.run("raise custom")

        def test_judge_error_quotes_the_output(student, hidden_images):
            y = student.run("y = model(x)", inputs={"x": hidden_images}, outputs=["y"])["y"]
            raise KeyError(f"no class for output {y}")

        def test_timeout(student, hidden_images):
            student.run("timeout", timeout=2)

        def test_crash(student, hidden_images):
            student.run("crash")

        def test_own_assertion_kept(student, hidden_images):
            assert False, "accuracy on the hidden test set 12.0%: below 30%, no marks"

        def test_band_message_on_pass(student, hidden_images, credit):
            credit.score(0.8, "accuracy on the hidden test set 85.0% (band: at least 80%)")

        def test_not_hidden(student):
            student.run("raise")
        """,
        },
    )
    msgs = {k.split("::")[1]: v["message"] for k, v in result["tests"].items()}
    outcomes_ = outcomes(result)
    for name in ("test_raises_via_fixture", "test_raises_with_hidden_dir", "test_raises_marked"):
        assert msgs[name] == "your code raised ValueError on the hidden test set", name
        assert outcomes_[name] == ("error", 0.0)
    assert msgs["test_custom_exception_marked"] == "your code raised an exception on the hidden test set"
    assert msgs["test_judge_error_quotes_the_output"] == "the hidden test set could not be checked (KeyError)"
    assert msgs["test_timeout"] == "your code timed out on the hidden test set (over 2s)"
    assert outcomes_["test_timeout"] == ("timeout", 0.0)
    assert msgs["test_crash"] == "your notebook's kernel crashed on the hidden test set"
    assert msgs["test_own_assertion_kept"] == "accuracy on the hidden test set 12.0%: below 30%, no marks"
    assert msgs["test_band_message_on_pass"] == "accuracy on the hidden test set 85.0% (band: at least 80%)"
    assert msgs["test_not_hidden"] == "your code raised ValueError"  # nothing hidden: the usual message
    for name, message in msgs.items():  # the student's exception text and outputs appear nowhere
        assert "label was" not in message and "Leak_7" not in message and "42" not in message, (name, message)
