"""The judge launcher a batch of gradings shares (``grader grade`` of many files, the benches).

``with make_launcher(settings, jobs=N) as judge:`` keeps one launcher for the whole batch and releases
what it holds at the end. A batch gets warm judges (at least ``BATCH_UNITS``, more with
``settings.warm_judges``): while one notebook is graded the next judges, their sandboxes and kernels
start beside it. Three, because a unit's warm-up (about 0.5 s, mostly waiting) outlasts two warm jobs
of a small notebook (about 0.2 s each): with fewer, jobs waited for their units. A single job
gains nothing from a pool (its first judge is cold either way) and gets a ``SubprocessJudge``, forked
from a judge template (``settings.fork_servers``) that starts now, so that its imports overlap
the intake and the pre-check instead of following them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager

from grader.grading.worker_side import JudgeLauncher
from grader.settings import Settings
from workers.judge.launcher import SubprocessJudge, judge_fork_server
from workers.judge.warm_pool import WarmJudges

BATCH_UNITS = 3


def make_launcher(settings: Settings, *, jobs: int = 1) -> AbstractContextManager[JudgeLauncher]:
    """A launcher for ``jobs`` jobs under ``settings``, as a context manager."""
    if jobs > 1:
        return WarmJudges(settings, size=max(BATCH_UNITS, settings.warm_judges))
    if settings.fork_servers:
        return _forked_judge()
    return contextlib.nullcontext(SubprocessJudge())


@contextlib.contextmanager
def _forked_judge() -> Iterator[JudgeLauncher]:
    server = judge_fork_server()
    try:
        yield SubprocessJudge(server)
    finally:
        server.close()
