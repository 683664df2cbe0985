"""The pre-check: files named right, notebook valid, model files load (in the sandbox, with
tensor-only loaders), queued and claimed ahead of full grading, never counted as the graded run.

The ``run_precheck`` tests use the real sandbox and the real course runtime; the queue tests use
real Postgres and real ``grader worker`` processes on Redis (``world``, see conftest.py).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import uuid
import zipfile
from pathlib import Path

import pytest
import torch
from sqlalchemy import select
from worker_kit import World, notebook

from grader.courseworks.models import Coursework
from grader.grading.model_verdicts import ModelVerdict
from grader.grading.precheck import run_precheck
from grader.rubrics.loader import load_coursework
from grader.runs.models import GradingRun, RunItemScore, RunKind, RunTestResult
from grader.runs.service import claim_next_run, latest_graded_run
from grader.settings import REPO_ROOT, Settings
from grader.submissions.flows import queue_grading
from grader.submissions.service import record_submission
from workers.precheck_sandbox import SandboxModelInspector

pytestmark = [pytest.mark.sandbox]

MODELS_RUBRIC = """\
coursework: models
title: Models
weight: 0.6
total_points: 1
mode: none
submission: {notebook: models.ipynb, files: [model.pt], optional_files: [extra.pth]}
parts: [{id: "1", title: One, points: 1}]
items:
  - {id: present, part: "1", title: Present, points: 1, auto: {tests: ["test_m.py::test_present"]}}
"""


def models_coursework(root: Path) -> Path:
    """A coursework whose submission is a zip: the notebook and a model file (``model.pt``)."""
    cw = root / "models"
    (cw / "hidden").mkdir(parents=True)
    (cw / "rubric.yaml").write_text(MODELS_RUBRIC)
    (cw / "hidden" / "test_m.py").write_text("def test_present():\n    assert True\n")
    return root


def model() -> torch.nn.Module:
    # 4*3 + 3 (linear) + 3 + 3 (batch norm's weight and bias) + 3 + 3 (its running statistics) + 2
    # (the int64 num_batches_tracked: 8 bytes) = 29: every stored tensor counts (inspect_models.py).
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))


def state_dict_bytes() -> bytes:
    buf = io.BytesIO()
    torch.save(model().state_dict(), buf)
    return buf.getvalue()


def torchscript_bytes() -> bytes:
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(model().eval()), buf)
    return buf.getvalue()


class TouchOnLoad:
    """Unpickling this runs ``os.system("touch <path>")``: what a hostile model file does."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def zipped(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def submission(tmp_path: Path, model_bytes: bytes | None, **extra: bytes) -> Path:
    members = {"models.ipynb": notebook("return x + 1"), **extra}
    if model_bytes is not None:
        members["model.pt"] = model_bytes
    path = tmp_path / "submission.zip"
    path.write_bytes(zipped(members))
    return path


@pytest.fixture
def models_settings(tmp_path: Path) -> Settings:
    return Settings(rubrics_dir=models_coursework(tmp_path / "rubrics"))


def precheck(path: Path, settings: Settings, coursework: str = "models"):
    report = run_precheck(path, load_coursework(coursework, settings), settings, inspector=SandboxModelInspector())
    assert report.infrastructure_error is None, (report.infrastructure_error, report.sandbox)
    return report


# -- run_precheck: the real sandbox ---------------------------------------------------------------


def test_a_good_cw1_notebook_passes():
    settings = Settings()
    report = precheck(REPO_ROOT / "rubrics" / "cw1" / "solution.ipynb", settings, "cw1")
    assert report.passed and report.models == []
    assert report.messages == ["received cw1.ipynb: named as the rubric asks, and the notebook is valid."]


def test_a_zip_missing_the_model_file_fails_with_the_reason(tmp_path: Path, models_settings: Settings):
    report = precheck(submission(tmp_path, None), models_settings)
    assert not report.passed and report.models == []
    assert len(report.messages) == 1 and "missing model.pt" in report.messages[0]


def test_a_valid_state_dict_and_torchscript_model_report_their_parameter_counts(tmp_path, models_settings):
    report = precheck(submission(tmp_path, state_dict_bytes(), **{"extra.pth": torchscript_bytes()}), models_settings)
    assert report.passed, report.messages
    by_name = {m.name: m for m in report.models}
    assert by_name["model.pt"].loads and by_name["model.pt"].kind == "state_dict"
    assert by_name["model.pt"].parameters == 29
    assert by_name["extra.pth"].loads and by_name["extra.pth"].kind == "torchscript"
    assert by_name["extra.pth"].parameters == 29
    assert "model.pt loads (state_dict, 29 parameters)." in report.messages
    assert "extra.pth loads (torchscript, 29 parameters)." in report.messages
    assert report.duration_s < 60  # a sanity bound, not a speed claim


def test_a_garbage_model_file_does_not_load(tmp_path: Path, models_settings: Settings):
    report = precheck(submission(tmp_path, os.urandom(4096)), models_settings)
    assert not report.passed
    assert [m.loads for m in report.models] == [False]
    assert any(line.startswith("model.pt does not load: ") for line in report.messages), report.messages


@pytest.mark.parametrize("wrapping", ["raw pickle", "torch.save"])
def test_a_model_file_whose_pickle_runs_a_command_is_refused_not_run(wrapping, tmp_path, models_settings):
    marker = tmp_path / f"pwned-{uuid.uuid4().hex}"
    if wrapping == "raw pickle":
        hostile = pickle.dumps(TouchOnLoad(marker), protocol=2)
    else:
        buf = io.BytesIO()
        torch.save({"weight": torch.zeros(3), "payload": TouchOnLoad(marker)}, buf)
        hostile = buf.getvalue()
    report = precheck(submission(tmp_path, hostile), models_settings)
    assert not marker.exists()
    assert not report.passed and report.models[0].loads is False
    line = next(line for line in report.messages if line.startswith("model.pt does not load: "))
    assert "posix.system" in line  # refused by the tensor-only unpickler, not merely contained


# -- the queue: real Postgres, real workers -------------------------------------------------------


def add_models_coursework(world: World) -> int:
    models_coursework(world.rubrics_dir)
    with world.sessions() as s:
        cw = Coursework(
            code="models",
            title="Models",
            weight=0.6,
            rubric_version="1",
            rubric_digest="0" * 64,
            hidden_digest="0" * 64,
            deadline=None,
            timezone="Europe/London",
        )
        s.add(cw)
        s.commit()
        return cw.id


class Woken(list[tuple[int, str]]):
    """A ``RunQueue`` that records the wake-ups sent (instead of a broker)."""

    def wake(self, run_id: int, queue: str) -> None:
        self.append((run_id, queue))


def submit_with_precheck(world: World, coursework_id: int, content: bytes, student: int = 0):
    """What the API does for a new upload, with the wake-ups it sends recorded (the broker is
    the boundary here: the test sends them to its own Redis). Returns (submission id, wake-ups)."""
    woken = Woken()
    blob = world.api_blobs.put(io.BytesIO(content))
    with world.sessions() as s:
        sub, _ = record_submission(
            session=s,
            coursework_id=coursework_id,
            student_id=world.student_ids[student],
            sha256=blob.sha256,
            size_bytes=blob.size,
            original_filename="submission.zip",
            blob_key=blob.sha256,
        )
        s.commit()
        full = queue_grading(session=s, submission_id=sub.id, queue="cpu", precheck=True, run_queue=woken)
        assert full is not None and full.kind is RunKind.full
        return sub.id, woken


def runs_of(world: World, submission_id: uuid.UUID) -> dict[RunKind, GradingRun]:
    return {r.kind: r for r in world.runs() if r.submission_id == submission_id}


def test_submitting_queues_the_precheck_first_and_it_is_claimed_first(world: World):
    cw_id = add_models_coursework(world)
    sub_id, woken = submit_with_precheck(
        world, cw_id, zipped({"models.ipynb": notebook("return x + 1"), "model.pt": state_dict_bytes()})
    )
    runs = runs_of(world, sub_id)
    check, full = runs[RunKind.precheck], runs[RunKind.full]
    assert check.id < full.id and check.enqueued_at <= full.enqueued_at
    assert (check.queue, check.priority, full.queue, full.priority) == ("precheck", 0, "cpu", 1)
    assert woken == [(check.id, "precheck"), (full.id, "cpu")]
    with world.sessions() as s:
        first = claim_next_run(session=s, worker_id="w1", queues=["precheck", "cpu"])
        second = claim_next_run(session=s, worker_id="w2", queues=["precheck", "cpu"])
    assert (first.run_id, first.kind) == (check.id, RunKind.precheck)
    assert (second.run_id, second.kind) == (full.id, RunKind.full)


@pytest.mark.slow
def test_a_worker_prechecks_then_grades_and_only_the_full_run_counts(world: World, tmp_path):
    cw_id = add_models_coursework(world)
    marker = tmp_path / "pwned"
    good_model = state_dict_bytes()
    good_id, woken = submit_with_precheck(
        world, cw_id, zipped({"models.ipynb": notebook("return x + 1"), "model.pt": good_model})
    )
    bad_id, woken_bad = submit_with_precheck(
        world,
        cw_id,
        zipped({"models.ipynb": notebook("return x + 1"), "model.pt": pickle.dumps(TouchOnLoad(marker), protocol=2)}),
        student=1,
    )
    world.start_worker()
    for run_id, queue in woken + woken_bad:
        world.wake(run_id, queue)

    good, bad = runs_of(world, good_id), runs_of(world, bad_id)
    passed = world.wait_status(good[RunKind.precheck].id, ("graded", "error"), 120)
    assert passed.status.value == "graded", (passed.error, passed.log, world.worker_logs())
    assert passed.score is None and passed.error is None and passed.attempt == 1
    assert 0 < passed.duration_s < 60  # a sanity bound, not a speed claim
    assert "model.pt loads (state_dict, 29 parameters)." in passed.details["precheck"]["messages"]
    assert "model.pt loads (state_dict, 29 parameters)." in passed.log

    failed = world.wait_status(bad[RunKind.precheck].id, ("graded", "error"), 120)
    assert failed.status.value == "error" and failed.error_kind == "submission", (failed.error, world.worker_logs())
    assert "model.pt does not load" in failed.error and failed.attempt == 1
    assert not marker.exists()
    with world.sessions() as s:  # the worker keeps its verdicts for a resubmission of the same bytes
        kept = s.scalars(select(ModelVerdict).where(ModelVerdict.sha256 == hashlib.sha256(good_model).hexdigest()))
        assert [(v.loads, v.kind, v.parameters) for v in kept] == [(True, "state_dict", 29)]

    # The full runs grade as usual; a pre-check never has result rows nor stands for the submission.
    for runs in (good, bad):
        full = world.wait_status(runs[RunKind.full].id, ("graded", "error"), 180)
        assert full.status.value == "graded", (full.error, world.worker_logs())
        assert world.count(RunItemScore, runs[RunKind.precheck].id) == 0
        assert world.count(RunTestResult, runs[RunKind.precheck].id) == 0
        assert world.count(RunItemScore, full.id) == 1
    with world.sessions() as s:
        assert latest_graded_run(session=s, submission_id=good_id).id == good[RunKind.full].id
        kinds = s.scalars(select(GradingRun.kind).where(GradingRun.submission_id == good_id)).all()
    assert sorted(k.value for k in kinds) == ["full", "precheck"]


# -- reading the loader's report (pure) -----------------------------------------------------------


def inspection(lines: list[str], **facts):
    from grader.grading.precheck import read_inspection
    from grader.settings import SandboxLimits

    facts = {"exit_code": 0, "oom_killed": False, "wall_timeout": False, **facts}
    return read_inspection(
        "\n".join(lines).encode(), ["a.pt", "b.pt"], limits=SandboxLimits(memory_mb=512, wall_time_s=60), **facts
    )


def test_the_file_that_stopped_the_loader_is_blamed_and_later_ones_are_not_checked():
    ok = '{"name": "a.pt", "loads": true, "kind": "state_dict", "parameters": 5, "tensors": 1, "error": null}'
    a, b = inspection(['{"checking": "a.pt"}', ok, '{"checking": "b.pt"}'], exit_code=137, oom_killed=True)
    assert a.loads and a.parameters == 5
    assert not b.loads and "512 MB" in b.error
    a, b = inspection(['{"checking": "a.pt"}'], exit_code=137, wall_timeout=True)
    assert not a.loads and "60 s" in a.error
    assert not b.loads and b.error.startswith("not checked")


def test_a_loader_that_reported_nothing_is_our_failure_not_the_students():
    with pytest.raises(RuntimeError, match="reported nothing"):
        inspection(["Traceback: ImportError: torch"], exit_code=1)
