"""What a judge stages before its sandbox starts, and the words a warm judge says: light on imports,
so that the side that launches judges (the CLI, a worker) never imports pytest or numpy for them."""

from __future__ import annotations

import shutil
from pathlib import Path

from workers.runner import RUNNER_FILES
from workers.sandbox.base import RUNTIME_MOUNT

RUNNER_SOURCE = Path(__file__).resolve().parent.parent / "runner"
RUNNER_ENV = {
    "PATH": f"{RUNTIME_MOUNT}/bin:/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HOME": "/tmp",
}
WARM_READY = "grader-judge: warm"  # the warm judge's first line on stdout: its sandbox waits for a job
WARM_FAILED = "grader-judge: warm-up failed:"
WARM_ABANDONED = "grader-judge: warm-up abandoned"  # the pool discarded it while it warmed


def stage_runner(target: Path, source: Path | None = None) -> None:
    """Copy the runner's files (only those) where the sandbox uid can read them; the repo may not be.

    ``source`` (tests only): a stand-in runner folder, copied whole.
    """
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o755)
    names = RUNNER_FILES if source is None else sorted(p.name for p in source.glob("*.py"))
    for name in names:
        dst = target / name
        shutil.copyfile((source or RUNNER_SOURCE) / name, dst)
        dst.chmod(0o644)
