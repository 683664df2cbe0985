"""The judge launcher a batch of gradings shares (``grader grade`` of many files, the benches).

``with make_launcher(settings) as judge:`` keeps one launcher for the whole batch and releases what
it holds at the end. Today that is a plain ``SubprocessJudge`` (nothing to release); a pool of warm
judges is a context manager implementing the same ``JudgeLauncher``, swapped in here.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

from grader.grading.worker_side import JudgeLauncher
from grader.settings import Settings
from workers.judge.launcher import SubprocessJudge


def make_launcher(settings: Settings) -> AbstractContextManager[JudgeLauncher]:
    """A launcher for a batch of jobs under ``settings``, as a context manager."""
    del settings  # the warm pool sizes itself from them; a cold launcher needs none
    return contextlib.nullcontext(SubprocessJudge())
