import hostile_kit
import pytest

from grader.rubrics.loader import load_coursework
from grader.settings import get_settings

BACKENDS = ("bwrap", "docker")


def pytest_configure(config):
    config.addinivalue_line("markers", "backends(*names): sandbox backends to run on (default: all of them)")


def pytest_generate_tests(metafunc):
    """Every attack runs on every backend: the same hostile suite must hold on each."""
    if "backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        metafunc.parametrize("backend", marker.args if marker else BACKENDS, scope="session")


@pytest.fixture(scope="session")
def settings(backend):
    return get_settings().model_copy(update={"sandbox_backend": backend})


@pytest.fixture(scope="session")
def cw1(settings):
    return load_coursework("cw1", settings)


@pytest.fixture(scope="session")
def base(cw1, settings, graded_cw1) -> hostile_kit.Verdict:
    """The base's verdict without any attack: graded once per test run and shared with
    tests/grading/test_cw1_submissions.py and across xdist workers (``graded_cw1``).
    One per backend: each must give the base the same verdict on its own."""
    verdict = hostile_kit.Verdict.of(graded_cw1(hostile_kit.BASE_NAME, cw1, settings))
    expected = hostile_kit.base_expected()
    # The base is what tests/cw1_submissions.py says it is, or every comparison below is moot.
    assert verdict.status == "graded" and expected.accepts(verdict.score), verdict.summary()
    for item, status in expected.items.items():
        assert verdict.items[item][1] == status, (item, verdict.summary())
    assert sorted(verdict.penalties) == sorted(expected.penalties), verdict.summary()
    return verdict
