import pytest
from runner_harness import Runner, start_runner


@pytest.fixture
def runner_factory():
    """start(cells, mode=..., files=..., execution=...) -> a Runner; closed after the test."""
    started: list[Runner] = []

    def make(*args, **kwargs) -> Runner:
        runner = start_runner(*args, **kwargs)
        started.append(runner)
        return runner

    yield make
    for runner in started:
        runner.close()
