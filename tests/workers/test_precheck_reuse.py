"""The pre-check reuses a model file's verdict by its sha256 (``grader.grading.model_verdicts``, real
Postgres): the same bytes again start no sandbox and get the same verdict; new bytes, another loader,
or a verdict the sandbox's kill decided are loaded afresh."""

from __future__ import annotations

import hashlib
import pickle
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from test_precheck import TouchOnLoad, models_coursework, state_dict_bytes, submission, torchscript_bytes

from grader.db.engine import session_factory
from grader.grading.model_verdicts import GradebookVerdicts, ModelVerdict
from grader.grading.precheck import (
    ModelCheck,
    PrecheckReport,
    loader_verdicts,
    reusable,
    run_precheck,
    verdict_version,
)
from grader.grading.worker_side import InspectionRun
from grader.rubrics.loader import load_coursework
from grader.settings import SandboxLimits, Settings
from workers.precheck_sandbox import SandboxModelInspector


class CountingInspector(SandboxModelInspector):
    """The real inspector, counting the sandboxes it starts and the files it was asked to load."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def inspect_models(self, folder, submission_dir, names: Sequence[str], *args) -> InspectionRun:
        self.calls.append(list(names))
        return super().inspect_models(folder, submission_dir, names, *args)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def verdicts(sessions) -> GradebookVerdicts:
    return GradebookVerdicts(sessions, loader_version=uuid.uuid4().hex)  # a loader of this test's own


def precheck(path: Path, tmp_path: Path, inspector, verdicts) -> PrecheckReport:
    settings = Settings(rubrics_dir=models_coursework(tmp_path / f"rubrics-{uuid.uuid4().hex[:6]}"))
    report = run_precheck(path, load_coursework("models", settings), settings, inspector=inspector, verdicts=verdicts)
    assert report.infrastructure_error is None, (report.infrastructure_error, report.sandbox)
    return report


def upload(tmp_path: Path, model: bytes, **extra: bytes) -> Path:
    folder = tmp_path / uuid.uuid4().hex[:8]
    folder.mkdir()
    return submission(folder, model, **extra)


@pytest.mark.sandbox
def test_the_same_model_bytes_again_start_no_sandbox_and_get_the_same_verdict(tmp_path: Path, verdicts, sessions):
    model, scripted = state_dict_bytes(), torchscript_bytes()
    inspector = CountingInspector()
    first = precheck(upload(tmp_path, model, **{"extra.pth": scripted}), tmp_path, inspector, verdicts)
    assert inspector.calls == [["model.pt", "extra.pth"]] and first.passed
    assert [(m.name, m.loads, m.kind, m.parameters) for m in first.models] == [
        ("model.pt", True, "state_dict", 29),
        ("extra.pth", True, "torchscript", 29),
    ]

    # A resubmission: another notebook, the same model files.
    again = precheck(upload(tmp_path, model, **{"extra.pth": scripted}), tmp_path, inspector, verdicts)
    assert len(inspector.calls) == 1  # no sandbox started
    assert again.to_json()["models"] == first.to_json()["models"] and again.messages == first.messages
    assert again.sandbox == {"recalled": ["extra.pth", "model.pt"]}

    # One file changed: only that one is loaded.
    changed = precheck(upload(tmp_path, model, **{"extra.pth": state_dict_bytes()}), tmp_path, inspector, verdicts)
    assert inspector.calls[1:] == [["extra.pth"]]
    assert [m.loads for m in changed.models] == [True, True] and changed.sandbox["recalled"] == ["model.pt"]

    with sessions() as s:
        kept = s.scalar(select(ModelVerdict).where(ModelVerdict.sha256 == hashlib.sha256(model).hexdigest()))
    assert kept is not None and (kept.loads, kept.kind, kept.parameters) == (True, "state_dict", 29)


@pytest.mark.sandbox
def test_a_refused_file_is_remembered_too_but_not_across_loaders(tmp_path: Path, verdicts, sessions):
    hostile = pickle.dumps(TouchOnLoad(tmp_path / "pwned"), protocol=2)
    inspector = CountingInspector()
    first = precheck(submission(tmp_path, hostile), tmp_path, inspector, verdicts)
    assert not first.passed and not first.models[0].loads and "not a file of tensors" in first.models[0].error
    again = precheck(submission(tmp_path, hostile), tmp_path, inspector, verdicts)
    assert len(inspector.calls) == 1 and again.to_json()["models"] == first.to_json()["models"]

    other_loader = GradebookVerdicts(sessions, loader_version=uuid.uuid4().hex)
    precheck(submission(tmp_path, hostile), tmp_path, inspector, other_loader)
    assert len(inspector.calls) == 2
    assert not (tmp_path / "pwned").exists()


# -- what may be reused (pure) --------------------------------------------------------------------


def test_only_verdicts_the_loader_reported_about_the_file_are_reusable():
    stdout = b'{"checking": "a.pt"}\n{"name": "a.pt", "loads": true, "kind": "state_dict", "parameters": 3}\n'
    stdout += b'{"checking": "b.pt"}\n'  # the sandbox was killed while loading b.pt: no verdict about it
    assert list(loader_verdicts(stdout, ["a.pt", "b.pt"])) == ["a.pt"]
    assert reusable(ModelCheck("a.pt", loads=False, error="UnpicklingError: invalid load key"))
    assert not reusable(ModelCheck("a.pt", loads=False, error="MemoryError: "))
    assert not reusable(ModelCheck("a.pt", loads=False, error="OSError: [Errno 28] No space left on device"))


def test_the_verdict_version_follows_the_loader_and_the_limits():
    limits = SandboxLimits()
    assert verdict_version("x", limits) == verdict_version("x", limits)
    assert verdict_version("x", limits) != verdict_version("y", limits)
    assert verdict_version("x", limits) != verdict_version("x", limits.model_copy(update={"memory_mb": 512}))
