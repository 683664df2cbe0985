"""Fixtures and checks of the whole suite (tests/README.md says what lives where).

The kits at tests/ (``pg_database``, ``cw1_submissions`` ...) are importable from every folder through
pyproject's ``pythonpath``; a folder's own kits beside its tests. Loaded here for every test: the
sandbox-marker checks (``sandbox_markers``) and pytester, which proves them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from recorded_wakeups import Woken
from sample_grades import once_per_run

pytest_plugins = ["pytester", "sandbox_markers"]


@pytest.fixture
def woken() -> Woken:
    """Wake-ups the app sent (instead of a broker): the test plays the worker itself."""
    return Woken()


@pytest.fixture(scope="session")
def graded_cw1(tmp_path_factory: pytest.TempPathFactory) -> Callable:
    """graded_cw1(name, cw1, settings) -> the GradeReport of ``cw1_submissions.SUBMISSIONS[name]`` on
    ``settings.sandbox_backend``, graded once per test run whoever asks first."""
    import nbformat
    from cw1_submissions import SUBMISSIONS

    from grader.grading.pipeline import grade_submission
    from workers.judge.launcher import SubprocessJudge

    def graded(name: str, cw1, settings):
        def build(folder):
            path = folder / "cw1.ipynb"
            nbformat.write(SUBMISSIONS[name][0], path)
            return grade_submission(path, cw1, settings, judge=SubprocessJudge())

        return once_per_run(tmp_path_factory, f"cw1-{name}-{settings.sandbox_backend}", build)

    return graded


@pytest.fixture(scope="session")
def graded_cw2(tmp_path_factory: pytest.TempPathFactory) -> Callable:
    """graded_cw2(name, cw2, settings) -> (GradeReport, whether a model file ran code on the host) of
    ``cw2_submissions.SUBMISSIONS[name]`` on ``settings.sandbox_backend``, graded once per test run."""
    from cw2_submissions import SUBMISSIONS, pickle_marker

    from grader.grading.pipeline import grade_submission
    from workers.judge.launcher import SubprocessJudge

    def graded(name: str, cw2, settings):
        def build(folder):
            path = SUBMISSIONS[name].build(folder / "in")
            marker = pickle_marker()
            marker.unlink(missing_ok=True)
            report = grade_submission(path, cw2, settings, judge=SubprocessJudge())
            return report, marker.exists()

        return once_per_run(tmp_path_factory, f"cw2-{name}-{settings.sandbox_backend}", build)

    return graded
