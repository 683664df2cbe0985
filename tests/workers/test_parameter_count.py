"""One parameter count for a model file, the same in the pre-check (what the student is shown) and
in the judge's ``models`` fixture (what decides CW2's parameter-limit penalty), with one rule that
cannot be dodged: every stored tensor (parameters, buffers, constants), any dtype, counts as
max(elements, bytes / 4), each storage once. TorchScript is read as an archive, never loaded.

The first tests call the loader (``workers/runner/inspect_models.py``) directly; the last one runs
the real pre-check and the real runner's inspection (the ``models`` fixture's facts), each in its
own real bwrap sandbox.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch

from grader.grading.precheck import precheck_limits, run_precheck
from grader.rubrics.loader import load_coursework
from grader.settings import ExecutionLimits, Settings
from workers.judge.client import StudentClient
from workers.judge.model_files import Models
from workers.judge.staging import RUNNER_ENV, stage_runner
from workers.precheck_sandbox import SandboxModelInspector
from workers.runner import RUNNER_ARGV, inspect_models
from workers.sandbox import get_backend
from workers.sandbox.base import SandboxSpec

N = 1000  # the hidden weights: 1000 float32 values, so 1000 parameters however they are stored


def weights() -> torch.Tensor:
    return torch.linspace(-1.0, 1.0, N, dtype=torch.float32)


def saved(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def scripted(module: torch.nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buf)
    return buf.getvalue()


class WeightsInABuffer(torch.nn.Module):
    """A generator whose real weights are a buffer: ``parameters()`` sees only the 4 x 3 + 3 layer."""

    def __init__(self):
        super().__init__()
        self.small = torch.nn.Linear(4, 3)
        self.register_buffer("hidden", weights().reshape(10, 100))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.small(x) + self.hidden.sum()


class PrintsOnLoad(torch.nn.Module):
    """TorchScript whose ``__setstate__`` runs when ``torch.jit.load`` reads it: it prints a fake
    result line claiming one parameter for itself."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(weights())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.w

    @torch.jit.export
    def __getstate__(self) -> tuple[torch.Tensor, bool]:
        return (self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool]) -> None:
        print('{"name": "printer.pt", "loads": true, "kind": "torchscript", "parameters": 1}')
        self.w = state[0]
        self.training = state[1]


def batchnorm_model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3)).eval()


# Linear 4*3 + 3, BatchNorm weight and bias 3 + 3, running_mean and running_var 3 + 3, and the int64
# num_batches_tracked: 1 element of 8 bytes, counted 2.
BATCHNORM_COUNT = 15 + 6 + 6 + 2

# file name -> (its bytes, the count it must get)
FILES = {
    "buffers_ts.pt": (lambda: scripted(WeightsInABuffer()), 15 + N),
    "int32_bits.pt": (lambda: saved({"w": weights().view(torch.int32)}), N),
    "fp16.pt": (lambda: saved({"w": weights().half()}), N),  # half the bytes, the same elements
    "float64_packed.pt": (lambda: saved({"w": weights().view(torch.float64)}), N),  # 500 elements, 4000 bytes
    "int8_packed.pt": (lambda: saved({"w": weights().view(torch.int8)}), 4 * N),  # 4000 one-byte elements
    "batchnorm.pt": (lambda: saved(batchnorm_model().state_dict()), BATCHNORM_COUNT),
    "batchnorm_ts.pt": (lambda: scripted(batchnorm_model()), BATCHNORM_COUNT),
    "printer.pt": (lambda: scripted(PrintsOnLoad()), N),
}


@pytest.fixture(scope="module")
def model_files() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="grader-count-", dir="/var/tmp"))
    folder.chmod(0o755)
    for name, (make, _) in FILES.items():
        (folder / name).write_bytes(make())
        (folder / name).chmod(0o644)
    return folder


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_stored_tensor_counts_whatever_its_dtype(name, model_files):
    got = inspect_models.inspect_file(str(model_files / name))
    assert got["loads"], got
    assert got["parameters"] == FILES[name][1], got


def test_the_one_rule():
    assert inspect_models.storage_count(4000, 4) == 1000  # float32
    assert inspect_models.storage_count(2000, 2) == 1000  # float16: the elements
    assert inspect_models.storage_count(4000, 8) == 1000  # float64: the bytes / 4
    assert inspect_models.storage_count(4000, 1) == 4000  # int8: the elements
    assert inspect_models.storage_count(8, 8) == 2  # an int64 counter: its bytes / 4


def test_a_state_dict_counts_the_same_from_the_archive_and_from_the_old_format(tmp_path):
    """torch.save's zip is read from the archive, its old non-zip format from the loaded storages:
    the same rule gives the same number, and tied tensors (one storage) count once."""
    state = {**batchnorm_model().state_dict(), "tied": weights()}
    state["tied_again"] = state["tied"]
    new, old = tmp_path / "new.pt", tmp_path / "old.pt"
    torch.save(state, new)
    torch.save(state, old, _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(old)
    counts = [inspect_models.inspect_file(str(p))["parameters"] for p in (new, old)]
    assert counts == [BATCHNORM_COUNT + N] * 2


def test_torchscript_is_never_loaded_so_its_code_cannot_print_a_result(model_files):
    """``torch.jit.load`` would run the file's ``__setstate__``; the loader reads the zip instead."""
    out = subprocess.run(
        [sys.executable, "-I", "-B", inspect_models.__file__, str(model_files / "printer.pt")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [
        {"checking": "printer.pt"},
        {"name": "printer.pt", "loads": True, "kind": "torchscript", "parameters": N, "tensors": 1, "error": None},
    ], out


def test_a_zip_that_is_not_torchscript_does_not_pass_for_one(tmp_path):
    path = tmp_path / "fake.ts"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fake/code/__torch__.py", "def forward(self): pass\n")
    got = inspect_models.inspect_file(str(path))
    assert not got["loads"] and "data.pkl" in got["error"], got


RUBRIC = """\
coursework: counting
title: Counting
weight: 0.6
total_points: 1
mode: none
submission: {{notebook: counting.ipynb, files: [{files}]}}
parts: [{{id: "1", title: One, points: 1}}]
items:
  - {{id: present, part: "1", title: Present, points: 1, auto: {{tests: ["test_m.py::test_present"]}}}}
"""


@pytest.mark.sandbox
def test_the_precheck_shows_the_number_the_verdict_uses(model_files, tmp_path):
    """Every file through the real pre-check and the real ``models`` fixture (bwrap sandboxes)."""
    rubrics = tmp_path / "rubrics"
    (rubrics / "counting" / "hidden").mkdir(parents=True)
    (rubrics / "counting" / "rubric.yaml").write_text(RUBRIC.format(files=", ".join(sorted(FILES))))
    (rubrics / "counting" / "hidden" / "test_m.py").write_text("def test_present():\n    assert True\n")
    settings = Settings(rubrics_dir=rubrics)
    upload = tmp_path / "submission.zip"
    with zipfile.ZipFile(upload, "w") as zf:
        zf.writestr("counting.ipynb", nbformat.writes(nbformat.v4.new_notebook()))
        for name in FILES:
            zf.write(model_files / name, name)
    report = run_precheck(
        upload, load_coursework("counting", settings), settings, inspector=SandboxModelInspector(), backend="bwrap"
    )
    assert report.infrastructure_error is None, (report.infrastructure_error, report.sandbox)
    shown = {m.name: m.parameters for m in report.models}

    # The verdict's facts: the runner inspects the files in its own sandbox before any student code.
    runner = model_files / "runner"
    stage_runner(runner)
    proc = get_backend("bwrap", settings).start(
        SandboxSpec(
            argv=list(RUNNER_ARGV),
            runtime_dir=settings.runtime_dir,
            runner_dir=runner,
            submission_dir=model_files,
            limits=settings.sandbox,
            env=dict(RUNNER_ENV),
        )
    )
    client = StudentClient(proc, ExecutionLimits())
    try:
        client.start(None, "none", models=sorted(FILES))
    finally:
        client.close()
        proc.wait(10)
        proc.kill()
    models = Models(
        client.model_facts,
        declared=sorted(FILES),
        submission_dir=model_files,
        limits=precheck_limits(settings.sandbox),
    )
    verdict = {name: models.inspect(name).parameters for name in FILES}
    expected = {name: count for name, (_, count) in FILES.items()}
    assert shown == verdict == expected, textwrap.shorten(f"shown {shown}, verdict {verdict}", 2000)
    for name, count in expected.items():
        assert f"{name} loads (" in "\n".join(report.messages) and f"{count:,} parameters" in "\n".join(
            line for line in report.messages if line.startswith(name)
        ), report.messages
