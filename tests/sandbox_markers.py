"""The `sandbox` and `slow` markers enforced: a test that uses the sandbox carries `sandbox`, a test that
grades a notebook carries both, so `-m "not sandbox and not slow"` (`make test-fast`) is what it says.

Two checks, both failures, never skips: at collection, a test that asks for a fixture below without
its markers stops the run (pytest exits with a usage error naming it); at run time, a test in this
process that reaches a sandbox backend or the judge launcher without its markers fails, whichever
fixture or helper took it there. Loaded by tests/conftest.py; a plugin module of its own so that
tests/test_sandbox_markers.py can load it into a pytester run."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import pytest

SANDBOX = ("sandbox",)
GRADING = ("sandbox", "slow")

# Fixtures that start the sandbox (their own or a worker's), and the markers a test that asks for one
# needs: "folder::name" is the fixture ``name`` as the tests under ``folder`` see it (another folder
# may have a fixture of the same name that does something else); a bare name is any fixture or
# parameter of that name.
FIXTURES: dict[str, tuple[str, ...]] = {
    "backend": SANDBOX,  # tests/sandbox, tests/hostile: parametrized over the sandbox backends
    "tests/sandbox::backend_ready": SANDBOX,
    "tests/sandbox::docker_ready": SANDBOX,
    "tests/sandbox::sandbox": SANDBOX,
    "tests/sandbox::run": SANDBOX,
    "tests/runner::runner_factory": SANDBOX,  # the runner inside the sandbox
    "tests/workers::world": SANDBOX,  # a real worker, which runs jobs in the sandbox
    "tests/scaleout::cluster": GRADING,  # worker hosts that grade notebooks in the sandbox
    "tests::graded_cw1": GRADING,  # tests/conftest.py: the CW1 samples graded
    "tests::graded_cw2": GRADING,  # tests/conftest.py: the CW2 samples graded
}

# Where code in the test process enters the sandbox ("module:attribute"), and the markers needed to
# get through. Each must exist: a target renamed away fails every test (a guard guarding nothing
# would pass in silence), so move this list along with the code.
ENTRY_POINTS: dict[str, tuple[str, ...]] = {
    "workers.sandbox.bwrap:BwrapBackend.start": SANDBOX,
    "workers.sandbox.docker:DockerBackend.start": SANDBOX,
    "workers.judge.launcher:SubprocessJudge.run": GRADING,  # the judge grades a whole notebook
    "workers.judge.warm_pool:WarmJudges.run": GRADING,  # a warm judge (or a cold one) grades a notebook
    "workers.judge.warm_pool:WarmJudges.warm_for": SANDBOX,  # starts warm judges, each with its sandbox
}

_current: list[pytest.Item] = []  # the test being run in this process
REFUSED = pytest.StashKey[list[str]]()  # on a test: what the guard refused it, reported or not


class SandboxRefused(RuntimeError):
    """The guard's refusal."""


def missing(item: pytest.Item, needs: tuple[str, ...]) -> list[str]:
    return [name for name in needs if item.get_closest_marker(name) is None]


def unmarked_fixtures(item: pytest.Item) -> list[str]:
    """'fixture (add: markers)' for each sandbox fixture ``item`` asks for without its markers."""
    # The fixture definitions a test sees: pytest has no public API for them (pytest 9).
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    out = []
    for name in getattr(item, "fixturenames", ()):
        defs = definitions.get(name) or ()
        keys = [name] + ([f"{defs[-1].baseid}::{name}"] if defs else [])
        needs = tuple(dict.fromkeys(m for key in keys for m in FIXTURES.get(key, ())))
        lacking = missing(item, needs)
        if lacking:
            out.append(f"{name} (add: {', '.join(f'@pytest.mark.{m}' for m in lacking)})")
    return out


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects anything: an unmarked test is found whatever runs
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        found = unmarked_fixtures(item)
        if found:
            # A failed collect report: pytest (and pytest-xdist's controller) lists it under ERRORS and
            # stops with "errors during collection", as for a test file that does not import.
            message = f"{item.nodeid} uses the sandbox without its markers (tests/README.md, 'Markers'): " + "; ".join(
                found
            )
            report = pytest.CollectReport(item.nodeid, "failed", longrepr=message, result=[])
            config.hook.pytest_collectreport(report=report)


@pytest.hookimpl(tryfirst=True)  # before the test's fixtures are set up: session fixtures grade too
def pytest_runtest_setup(item: pytest.Item) -> None:
    _current[:] = [item]
    item.stash[REFUSED] = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> None:
    if call.when == "call" and call.excinfo is not None and call.excinfo.errisinstance(SandboxRefused):
        item.stash[REFUSED] = []  # the test failed with the refusal itself: said once is enough


def _resolve(target: str) -> tuple[Any, str, Callable[..., Any]]:
    module_name, _, path = target.partition(":")
    *owners, attr = path.split(".")
    try:
        owner: Any = importlib.import_module(module_name)
        for name in owners:
            owner = getattr(owner, name)
        return owner, attr, getattr(owner, attr)
    except (ImportError, AttributeError) as exc:
        pytest.fail(
            f"tests/sandbox_markers.py guards {target}, which no longer exists ({exc}): "
            "update ENTRY_POINTS to where the code enters the sandbox now",
            pytrace=False,
        )


def _guarded(target: str, needs: tuple[str, ...], original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def guard(*args: Any, **kwargs: Any) -> Any:
        item = _current[0] if _current else None
        lacking = missing(item, needs) if item is not None else []
        if lacking:
            message = (
                f"{item.nodeid} reached {target} without "
                f"{', '.join(f'@pytest.mark.{m}' for m in lacking)} (tests/README.md, 'Markers')"
            )
            item.stash.setdefault(REFUSED, []).append(message)
            raise SandboxRefused(message)
        return original(*args, **kwargs)

    return guard


@pytest.fixture(scope="session", autouse=True)
def sandbox_entry_guard():
    with pytest.MonkeyPatch.context() as mp:
        for target, needs in ENTRY_POINTS.items():
            owner, attr, original = _resolve(target)
            mp.setattr(owner, attr, _guarded(target, needs, original))
        yield


@pytest.fixture(autouse=True)
def sandbox_refusals_fail_the_test(request: pytest.FixtureRequest, sandbox_entry_guard):
    """A refusal caught on the way (a worker thread turning it into a run error) still fails the test."""
    yield
    refused = request.node.stash.get(REFUSED, [])
    if refused:
        pytest.fail("\n".join(dict.fromkeys(refused)), pytrace=False)
