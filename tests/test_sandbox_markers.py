"""The marker checks of tests/sandbox_markers.py, run on small suites in pytester: an unmarked test that
uses the sandbox is a collection error (also under `-m "not sandbox"`), a marked one collects, and the
run-time guard refuses a sandbox backend or the judge to an unmarked test. Nothing reaches a sandbox."""

from __future__ import annotations

import pytest

SUITE = """
import pytest

@pytest.mark.parametrize("backend", ["bwrap"])
def test_unmarked(backend):
    pass

@pytest.mark.sandbox
@pytest.mark.parametrize("backend", ["bwrap"])
def test_marked(backend):
    pass

def test_plain():
    pass
"""


@pytest.mark.parametrize("select", [[], ["-m", "not sandbox and not slow"]])
def test_an_unmarked_sandbox_test_is_a_collection_error(pytester: pytest.Pytester, select: list[str]):
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("-p", "sandbox_markers", *select)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*test_suite.py::test_unmarked[[]bwrap[]] uses the sandbox without its markers*backend (add: @pytest.mark.sandbox)*",
            "*Interrupted: 1 error during collection*",
        ]
    )
    assert "test_marked" not in result.stdout.str().split("short test summary")[-1]


def test_marked_tests_collect(pytester: pytest.Pytester):
    pytester.makepyfile(test_suite=SUITE.replace("def test_unmarked", "@pytest.mark.sandbox\ndef test_unmarked"))
    result = pytester.runpytest("-p", "sandbox_markers", "-m", "not sandbox")
    result.assert_outcomes(passed=1, deselected=2)


def test_the_guard_refuses_the_sandbox_and_the_judge_to_an_unmarked_test(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_guard="""
        import threading

        import pytest
        from workers.judge.launcher import SubprocessJudge
        from workers.sandbox.bwrap import BwrapBackend


        def test_starts_a_sandbox():
            BwrapBackend.start(None, None)  # refused before it looks at its arguments


        @pytest.mark.sandbox
        def test_grades_with_sandbox_only():
            SubprocessJudge().run(None, 1.0)


        def test_swallows_the_refusal_in_a_thread():
            def work():
                try:
                    SubprocessJudge().run(None, 1.0)
                except Exception:
                    pass  # a worker thread turning it into a run error

            t = threading.Thread(target=work)
            t.start()
            t.join()
    """
    )
    result = pytester.runpytest("-p", "sandbox_markers")
    result.assert_outcomes(passed=1, failed=2, errors=1)  # the swallowed one passes its call, fails at teardown
    result.stdout.fnmatch_lines_random(
        [
            "*test_starts_a_sandbox reached workers.sandbox.bwrap:BwrapBackend.start without @pytest.mark.sandbox*",
            "*test_grades_with_sandbox_only reached workers.judge.launcher:SubprocessJudge.run without @pytest.mark.slow*",
            "*test_swallows_the_refusal_in_a_thread reached workers.judge.launcher:SubprocessJudge.run without "
            "@pytest.mark.sandbox, @pytest.mark.slow*",
        ]
    )
