"""Runs a hidden suite through the judge's plugin with a scripted stand-in for the student's kernel.

Used by test_judge_plugin.py in a subprocess (a fresh pytest per suite): ``python plugin_harness.py SUITE``
prints the result JSON.
"""

import json
import sys
from pathlib import Path

from workers.judge.api import ProtocolViolation, StudentCrashed, StudentException, StudentTimeout
from workers.judge.kept import Artifacts
from workers.judge.plugin import JudgePlugin, Submission
from workers.judge.run import run_suite


class ScriptedStudent:
    """``run(code)`` does what ``code`` names: a value, an error, a timeout, a crash, or a violation."""

    def __init__(self):
        self.violation = None
        self._on_violation = None
        self.report = {"mode": "full"}

    def run(self, code, inputs=None, outputs=(), timeout=None):
        if self.violation:
            raise ProtocolViolation(self.violation)
        if code == "timeout":
            raise StudentTimeout(timeout or 1.0)
        if code == "crash":
            raise StudentCrashed()
        if code == "raise":
            raise StudentException("ValueError", "hidden label was 7")
        if code == "raise custom":
            raise StudentException("Leak_7", "")
        if code == "violate":
            self.violation = "garbage on the pipe"
            if self._on_violation:
                self._on_violation(self.violation)
            raise ProtocolViolation(self.violation)
        return {name: 42 for name in outputs}


if __name__ == "__main__":
    suite = Path(sys.argv[1])
    submission = Submission(suite / "submission", "nb.ipynb")
    artifacts = Artifacts(suite / "artifacts")
    plugin = JudgePlugin(ScriptedStudent(), submission, suite / "hidden", seed=1234, artifacts=artifacts)
    error = run_suite(plugin, suite / "hidden")
    print(
        "@@RESULT@@"
        + json.dumps(
            {
                "tests": plugin.results,
                "collected": plugin.collected,
                "error": error,
                "artifacts": [r.model_dump(mode="json") for r in artifacts.records()],
            }
        )
    )
