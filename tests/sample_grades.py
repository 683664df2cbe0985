"""Each sample submission graded once per test run, the result shared by every test that needs it,
across pytest-xdist workers too: the first process to ask grades it and pickles the result into a
folder common to the run; the others wait on its lock and read it (pytest-xdist's documented recipe)."""

from __future__ import annotations

import fcntl
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of this test run alone, the same for all its xdist workers."""
    root = tmp_path_factory.getbasetemp()
    # An xdist worker's basetemp is <this run's>/popen-gwN; without xdist the basetemp is the run's own.
    # (basetemp's parent without xdist is shared by every run on the machine: never a cache.)
    return root.parent if root.name.startswith("popen-gw") else root


def once_per_run(tmp_path_factory: pytest.TempPathFactory, key: str, build: Callable[[Path], T]) -> T:
    """``build(folder)``'s result for ``key``, built by the first process that asks during this run.
    A build that raises caches nothing: the next test to ask tries again (and reports its own failure)."""
    cache = run_folder(tmp_path_factory) / "sample-grades"
    cache.mkdir(exist_ok=True)
    result, lock = cache / f"{key}.pickle", cache / f"{key}.lock"
    with open(lock, "w") as held:
        # fcntl rather than the filelock package: the standard library does it, no dependency to pin.
        fcntl.flock(held, fcntl.LOCK_EX)
        if result.is_file():
            return pickle.loads(result.read_bytes())
        value = build(tmp_path_factory.mktemp(key))
        result.write_bytes(pickle.dumps(value))
        return value
