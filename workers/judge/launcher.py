"""The judge launched as its own process: the worker side of ``grader.grading.worker_side.JudgeLauncher``.

A process of its own, so that a judge that hangs (or a hidden suite that does) is killed whole,
with everything it started, when the deadline passes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from grader.grading.errors import InfrastructureError
from grader.grading.job import Job
from grader.grading.job_schema import JudgeResult, read_result

OUTPUT_TAIL_CHARS = 2000  # of the judge's own output, quoted when it wrote no result


class SubprocessJudge:
    """Runs ``python -m workers.judge JOB.json`` with this interpreter."""

    def run(self, job: Job, timeout_s: float) -> JudgeResult:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.judge", str(job.job_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
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
