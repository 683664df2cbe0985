"""The judge's pytest plugin: the fixtures of docs/hidden-tests.md, and each test's outcome.

Outcomes: ``passed``, ``failed`` (an assertion or the test's own error), ``error`` (the student's
code raised, crashed or broke the protocol, or a fixture failed), ``timeout`` (``StudentTimeout``),
``skipped``. Once a protocol violation happened, no test that uses ``student`` can pass, and
credit claimed after it does not count; tests that only read ``submission`` still run normally.

A test that uses hidden data (marked ``hidden_data``, or using the ``hidden_dir`` fixture directly or
through another fixture) may send hidden inputs to the student's kernel, whose code can put them into
anything it raises. Such a test's failure message is fixed by the judge ("your code raised ValueError
on the hidden test set"): never the text of an exception it raised or caused.
"""

from __future__ import annotations

import builtins
import types
from collections.abc import Generator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from .api import Credit, ProtocolViolation, StudentCrashed, StudentException, StudentTimeout
from .client import StudentClient
from .kept import Artifacts
from .model_files import Models

MESSAGE_CAP = 500
HIDDEN_DATA_MARK = "hidden_data"
_BUILTIN_EXCEPTIONS = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}


class Submission:
    """The submitted files as the judge sees them. Never executed or unpickled here."""

    def __init__(self, directory: Path, notebook_name: str | None, max_notebook_bytes: int = 100 * 2**20):
        self.directory = Path(directory)
        self.files: dict[str, Path] = {}
        if self.directory.is_dir():
            for path in sorted(self.directory.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    self.files[path.relative_to(self.directory).as_posix()] = path
        self.notebook_error: str | None = None
        self.notebook = nbformat.v4.new_notebook()
        if notebook_name:
            path = self.directory / notebook_name
            try:
                if path.stat().st_size > max_notebook_bytes:
                    raise ValueError("the notebook is over the size limit")
                self.notebook = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
            except Exception as e:
                self.notebook_error = f"{type(e).__name__}: {str(e)[:200]}"
        self.cells: list[str] = [c.source for c in self.notebook.cells if c.get("cell_type") == "code"]
        self.code = "\n\n".join(self.cells)


def first_line(text: str, cap: int = MESSAGE_CAP) -> str:
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    return line if len(line) <= cap else line[: cap - 1] + "…"


def message_for(exc: BaseException) -> str:
    """What a test's failure says. Student-side errors never echo the student's own text:
    hidden-run output must not reach students."""
    if isinstance(exc, StudentTimeout):
        return f"your code timed out (over {exc.timeout:g}s)"
    if isinstance(exc, ProtocolViolation):
        return "grading stopped: the notebook's process broke the grader's protocol"
    if isinstance(exc, StudentCrashed):
        return "your notebook's kernel crashed"
    if isinstance(exc, StudentException):
        return f"your code raised {exc.name}" if exc.name in _BUILTIN_EXCEPTIONS else "your code raised an exception"
    if isinstance(exc, AssertionError):
        return first_line(str(exc)) or "assertion failed"
    if isinstance(exc, (pytest.fail.Exception, pytest.skip.Exception)):
        return first_line(getattr(exc, "msg", "") or str(exc))
    text = first_line(str(exc))
    return first_line(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def uses_hidden_data(item: pytest.Function) -> bool:
    """Whether a test can reach the hidden suite's data: marked ``hidden_data``, or using ``hidden_dir``."""
    return item.get_closest_marker(HIDDEN_DATA_MARK) is not None or "hidden_dir" in item.fixturenames


def hidden_data_message(exc: BaseException) -> str:
    """What a failed hidden-data test says: fixed text, or the test's own assertion. The student's code
    may have put hidden inputs into any exception's text, and the judge's own errors may quote what the
    student's code sent back, so neither is ever shown."""
    if isinstance(exc, StudentException):
        name = exc.name if exc.name in _BUILTIN_EXCEPTIONS else "an exception"
        return f"your code raised {name} on the hidden test set"
    if isinstance(exc, StudentTimeout):
        return f"your code timed out on the hidden test set (over {exc.timeout:g}s)"
    if isinstance(exc, StudentCrashed):
        return "your notebook's kernel crashed on the hidden test set"
    if isinstance(exc, (ProtocolViolation, AssertionError, pytest.fail.Exception, pytest.skip.Exception)):
        return message_for(exc)  # fixed text, or the test author's words
    return f"the hidden test set could not be checked ({type(exc).__name__})"


def outcome_for(exc: BaseException) -> str:
    if isinstance(exc, StudentTimeout):
        return "timeout"
    if isinstance(exc, (StudentException, StudentCrashed, ProtocolViolation)):
        return "error"
    return "failed"


class JudgePlugin:
    def __init__(
        self,
        student: StudentClient | None,
        submission: Submission,
        hidden_dir: Path,
        seed: int,
        *,
        models: Models | None = None,
        artifacts: Artifacts | None = None,
    ):
        self._student = student
        self._models = models
        self._artifacts = artifacts
        self._submission = submission
        self._hidden_dir = Path(hidden_dir)
        self._seed = seed
        self.results: dict[str, dict[str, Any]] = {}
        self.collected: list[str] = []
        self.collection_errors: list[str] = []
        self._credits: dict[str, Credit] = {}
        self._phases: dict[str, list[tuple[str, Any, float]]] = {}
        if student is not None:
            student._on_violation = self._on_violation
        self._make_fixtures()

    # --- fixtures ---------------------------------------------------------------------------------

    def _make_fixtures(self) -> None:
        # Plain functions in a module of their own, registered as a second plugin (``plugins()``):
        # pytest looks fixtures up on a plugin's type, and methods as session fixtures are deprecated.
        @pytest.fixture(scope="session", name="student")
        def student() -> StudentClient | None:
            return self._student

        @pytest.fixture(name="credit")
        def credit(request: pytest.FixtureRequest) -> Credit:
            credit = Credit()
            if "student" in request.node.fixturenames and self._violated():
                credit.frozen = True  # the run is already over for this test
            self._credits[request.node.nodeid] = credit
            return credit

        @pytest.fixture(scope="session", name="submission")
        def submission() -> Submission:
            return self._submission

        @pytest.fixture(scope="session", name="hidden_dir")
        def hidden_dir() -> Path:
            return self._hidden_dir

        @pytest.fixture(scope="session", name="run_seed")
        def run_seed() -> int:
            return self._seed

        @pytest.fixture(scope="session", name="models")
        def models() -> Models:
            if self._models is None:
                raise RuntimeError("this judge run has no model inspector")
            return self._models

        @pytest.fixture(scope="session", name="artifacts")
        def artifacts() -> Artifacts:
            if self._artifacts is None:
                raise RuntimeError("this judge run keeps no artifacts")
            return self._artifacts

        self.fixtures = types.ModuleType("grader_judge_fixtures")
        for fixture in (student, credit, submission, hidden_dir, run_seed, models, artifacts):
            setattr(self.fixtures, fixture.name, fixture)

    def plugins(self) -> list[object]:
        """What to pass as ``pytest.main(..., plugins=...)``."""
        return [self, self.fixtures]

    # --- violation --------------------------------------------------------------------------------

    def _violated(self) -> bool:
        return self._student is not None and self._student.violation is not None

    def _on_violation(self, reason: str) -> None:
        for credit in self._credits.values():
            credit.frozen = True  # floors set from here on do not count

    # --- recording --------------------------------------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line(
            "markers",
            f"{HIDDEN_DATA_MARK}: the test sends hidden data to the student's "
            "kernel; its failure messages never quote an exception",
        )

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(report.nodeid or "<suite>")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = [item.nodeid for item in session.items]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Function, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        exc = call.excinfo.value if call.excinfo is not None else None
        if getattr(report, "wasxfail", None) is not None:
            state = "failed"  # an expected failure is not a pass
            exc = exc or AssertionError("unexpected pass of an xfail test")
        else:
            state = report.outcome
        self._phases.setdefault(item.nodeid, []).append((call.when, (state, exc), report.duration))
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Function) -> Generator[None, None, None]:
        # Artifacts drawn by the test's own body belong to it (and so to its rubric item); one drawn
        # in a fixture's set-up or teardown may serve several tests and belongs to none (staff only).
        if self._artifacts is not None:
            self._artifacts.test = item.nodeid
        try:
            return (yield)
        finally:
            if self._artifacts is not None:
                self._artifacts.test = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Function, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        result = yield
        self._finish(item)
        return result

    def _finish(self, item: pytest.Function) -> None:
        nodeid = item.nodeid
        phases = self._phases.pop(nodeid, [])
        credit = self._credits.pop(nodeid, None) or Credit()
        duration = round(sum(d for _, _, d in phases), 4)
        outcome, message = "passed", ""
        message_of = hidden_data_message if uses_hidden_data(item) else message_for
        for when, (state, exc), _ in phases:
            if state == "skipped":
                outcome, message = "skipped", message_of(exc) if exc else "skipped"
                break
            if state == "failed":
                if when == "call":
                    outcome = outcome_for(exc) if exc is not None else "failed"
                else:  # a failing fixture or teardown: the test itself never decided
                    outcome = "timeout" if isinstance(exc, StudentTimeout) else "error"
                message = message_of(exc) if exc is not None else "failed"
                break
        if outcome == "passed" and "student" in item.fixturenames and self._violated():
            outcome, message = "error", message_for(ProtocolViolation())
        if outcome == "passed":
            fraction = credit.fraction(True)
            if credit.floor > (1.0 if credit.pass_score is None else credit.pass_score):
                message = credit.floor_message
            elif credit.pass_score is not None and credit.pass_score < 1.0:
                message = credit.score_message
        elif outcome == "skipped":
            fraction = 0.0
        else:
            fraction = credit.fraction(False)
            message = message or credit.floor_message
        self.results[nodeid] = {
            "outcome": outcome,
            "fraction": round(fraction, 6),
            "message": first_line(message),
            "duration_s": duration,
        }
