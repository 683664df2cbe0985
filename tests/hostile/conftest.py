import fcntl
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # hostile_kit
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # cw1_submissions

import hostile_kit
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
def base(cw1, settings, tmp_path_factory) -> hostile_kit.Verdict:
    """The base's verdict without any attack: graded once per session and shared by the xdist
    workers through a file under pytest's common temp root (the first worker grades, the others read).
    One per backend: each must give the base the same verdict on its own."""
    root = tmp_path_factory.getbasetemp()
    if hasattr(root, "parent") and root.name.startswith("popen-gw"):  # an xdist worker: share with its siblings
        root = root.parent
    backend = settings.sandbox_backend
    cache, lock = root / f"hostile-base-{backend}.json", root / f"hostile-base-{backend}.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if cache.is_file():
            return hostile_kit.Verdict.from_json(json.loads(cache.read_text()))
        folder = tmp_path_factory.mktemp("base")
        verdict = hostile_kit.grade(hostile_kit.write(hostile_kit.base_notebook(), folder), cw1, settings)
        expected = hostile_kit.base_expected()
        # The base is what tests/cw1_submissions.py says it is, or every comparison below is moot.
        assert verdict.status == "graded" and expected.accepts(verdict.score), verdict.summary()
        for item, status in expected.items.items():
            assert verdict.items[item][1] == status, (item, verdict.summary())
        assert sorted(verdict.penalties) == sorted(expected.penalties), verdict.summary()
        cache.write_text(json.dumps(verdict.to_json()))
        return verdict
