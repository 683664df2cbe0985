"""The judge launched as its own process: the worker side of ``grader.grading.worker_side.JudgeLauncher``.

A process of its own, so that a judge that hangs (or a hidden suite that does) is killed whole,
with everything it started, when the deadline passes. Given a fork server (``forkserver.py``), the
judge is forked from a template that imported the judge once, instead of started as a new
interpreter (trusted code only: the judge still starts a fresh sandbox); if the server is gone, the
judge starts the cold way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from grader.grading.errors import InfrastructureError
from grader.grading.job import Job
from grader.grading.job_schema import JudgeResult, read_result
from grader.processes.forkserver import ForkedProcess, ForkServer, ForkServerError

OUTPUT_TAIL_CHARS = 2000  # of the judge's own output, quoted when it wrote no result
JUDGE = "workers.judge.run:main"  # what a judge fork server forks (its template calls run.preload())


def judge_fork_server() -> ForkServer:
    """A template that imported the judge once, forking a judge per job (grader.processes.forkserver)."""
    return ForkServer(JUDGE)


def start_judge(
    argv: list[str], server: ForkServer | None, *, stdin: bool = False
) -> subprocess.Popen[bytes] | ForkedProcess:
    """``python -m workers.judge ARGV``: forked by ``server`` where there is one that answers, else a new
    interpreter. Its stdout (stderr with it) is a pipe; its stdin a pipe if ``stdin``, else /dev/null."""
    if server is not None and not server.dead:
        try:
            return server.spawn(argv, stdin=stdin)
        except ForkServerError:
            pass  # the cold way below: slower, never wrong
    return subprocess.Popen(
        [sys.executable, "-m", "workers.judge", *argv],
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


class SubprocessJudge:
    """Runs ``python -m workers.judge JOB.json``: forked by ``server`` if given, else with this interpreter."""

    def __init__(self, server: ForkServer | None = None):
        self.server = server

    def run(self, job: Job, timeout_s: float) -> JudgeResult:
        proc = start_judge([str(job.job_file)], self.server)
        try:
            out, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise InfrastructureError(f"the judge did not finish within {timeout_s:.0f}s") from None
        if not job.result_path.is_file():
            tail = out.decode("utf-8", "replace")[-OUTPUT_TAIL_CHARS:]
            raise InfrastructureError(f"the judge exited with {proc.returncode} and wrote no result: {tail}")
        return read_result(job.result_path)
