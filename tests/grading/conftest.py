import pytest

from grader.rubrics.loader import load_coursework
from grader.settings import get_settings


@pytest.fixture(scope="session")
def settings():
    return get_settings()


@pytest.fixture(scope="session")
def cw1(settings):
    return load_coursework("cw1", settings)
