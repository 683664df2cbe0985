"""The judge's ``models`` and ``artifacts`` fixtures in whole grading runs: real bwrap, real kernels.

A tiny coursework of our own (suites/models) grades a zip holding model files of every sort: a
state_dict, a TorchScript module, garbage, a pickle whose loading would run code, a checkpoint, and
one the rubric names but the zip lacks. Its hidden tests assert what ``models.inspect`` answers and
draw PNGs from the student's outputs; ``grader grade --json --artifacts-dir`` must list and write them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from PIL import Image

from workers.judge.artifacts import GRID_PADDING

pytestmark = pytest.mark.sandbox

HERE = Path(__file__).parent
REPO = HERE.parents[1]
RUNTIME = Path("/opt/grader/runtime")
TESTS = [
    "state_dict",
    "torchscript",
    "garbage",
    "code_running_pickle",
    "checkpoint_is_not_a_state_dict",
    "missing",
    "bad_names",
    "artifacts",
]
NOTEBOOK = "import numpy as np\n\ndef samples(n):\n    return np.linspace(0, 1, n * 25).reshape(n, 1, 5, 5)\n"


class Evil:
    """Unpickling this would run a shell command that creates ``marker`` on whatever host loads it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def root():
    if not (os.access("/usr/bin/bwrap", os.X_OK) and (RUNTIME / "bin" / "python").exists() and os.geteuid() == 0):
        pytest.fail("needs bubblewrap, the course runtime and root", pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="grader-models-test-", dir="/var/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def coursework(root: Path) -> Path:
    cw = root / "rubrics" / "cwm"
    shutil.copytree(HERE / "suites" / "models", cw / "hidden")
    items = "\n".join(
        f'  - {{id: {t.replace("_", "-")}, part: "1", title: {t}, points: 1, '
        f'auto: {{tests: ["test_models.py::test_{t}"]}}}}'
        for t in TESTS
    )
    (cw / "rubric.yaml").write_text(
        textwrap.dedent(f"""\
        coursework: cwm
        title: Models and artifacts
        weight: 0.5
        total_points: {len(TESTS)}
        mode: definitions
        submission: {{notebook: cwm.ipynb, files: [sd.pt, ts.pt, garbage.pt, evil.pt, ckpt.pt],
                     optional_files: [absent.pt]}}
        parts: [{{id: "1", title: One, points: {len(TESTS)}}}]
        items:
        """)
        + items
        + "\n"
    )
    nb = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK)]))
    for name in ("solution", "skeleton"):
        (cw / f"{name}.ipynb").write_text(nb)
    return cw.parent


def submission_zip(root: Path, marker: Path) -> Path:
    def saved(obj) -> bytes:
        buf = io.BytesIO()
        torch.save(obj, buf)
        return buf.getvalue()

    bn = torch.nn.BatchNorm1d(3)
    state = {
        "fc.weight": torch.ones(3, 4),
        "fc.bias": torch.ones(3),
        "bn.running_mean": bn.running_mean,
        "bn.num_batches_tracked": bn.num_batches_tracked,
    }
    script = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Linear(4, 2)), script)
    members = {
        "cwm.ipynb": nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK)])).encode(),
        "sd.pt": saved(state),
        "ts.pt": script.getvalue(),
        "garbage.pt": b"\x80\x04 this is not a model" * 10,
        "evil.pt": saved(Evil(marker)),
        "ckpt.pt": saved({"model": state, "epoch": 3}),
    }
    path = root / "sub.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def decode(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_models_and_artifacts_in_a_graded_run(root: Path):
    marker = root / "pwned"
    out = root / "artifacts-out"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GRADER_")},
        "GRADER_RUBRICS_DIR": str(coursework(root)),
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "grader"),
            "grade",
            str(submission_zip(root, marker)),
            "-c",
            "cwm",
            "--json",
            "--artifacts-dir",
            str(out),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["status"] == "graded", report["error"]
    failing = {i["id"]: (i["status"], i["message"]) for i in report["items"] if i["status"] != "passed"}
    assert not failing, failing
    assert report["score"] == len(TESTS)
    assert not marker.exists(), "loading the model file ran the student's code"

    # Listed without host paths, written where asked, and drawn from the student's arrays.
    listed = {a["name"]: a for a in report["artifacts"]}
    assert list(listed) == ["samples", "first"]
    assert all(
        set(a) == {"name", "title", "media_type", "sha256", "size_bytes", "test", "item_id"} for a in listed.values()
    )
    # Each with the test that drew it and the item that test scores (whose visibility a student gets).
    assert {(a["test"], a["item_id"]) for a in listed.values()} == {("test_models.py::test_artifacts", "artifacts")}
    assert listed["samples"]["title"] == "Six samples" and listed["first"]["title"] == "The first one"
    assert sorted(p.name for p in out.iterdir()) == ["first.png", "samples.png"]
    for name, a in listed.items():
        data = (out / f"{name}.png").read_bytes()
        assert a["media_type"] == "image/png" and a["size_bytes"] == len(data)
        assert a["sha256"] == hashlib.sha256(data).hexdigest()
    values = np.round(np.linspace(0, 1, 150).reshape(6, 1, 5, 5) * 255).astype(np.uint8)
    assert np.array_equal(decode(out / "first.png"), values[0, 0])
    grid = decode(out / "samples.png")
    pad = GRID_PADDING
    assert grid.shape == (2 * (5 + pad) + pad, 3 * (5 + pad) + pad)  # two rows of three
    for k in range(6):
        top, left = pad + (k // 3) * (5 + pad), pad + (k % 3) * (5 + pad)
        assert np.array_equal(grid[top : top + 5, left : left + 5], values[k, 0]), k


def test_an_inspector_that_cannot_run_is_an_infrastructure_error(root: Path):
    """A stand-in runner whose hello carries no model facts for the declared model file: the loader
    reported nothing. That is ours, so the whole run is an infrastructure error (retried), not a zero."""
    sub = root / "submission"
    sub.mkdir(mode=0o755)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), sub / "nb.ipynb")
    (sub / "model.pth").write_bytes(b"weights")
    for p in sub.iterdir():
        p.chmod(0o644)
    job = root / "job.json"
    job.write_text(
        json.dumps(
            {
                "coursework": "cw-test",
                "hidden_dir": str(HERE / "suites" / "models_infra"),
                "submission_dir": str(sub),
                "notebook": "nb.ipynb",
                "mode": "full",
                "backend": "bwrap",
                "seed": 1,
                "runtime_dir": str(RUNTIME),
                "runner_dir": str(root / "runner"),
                "result_path": str(root / "out" / "result.json"),
                "limits": {"memory_mb": 3072, "pids": 256, "wall_time_s": 120, "cpu_time_s": 120},
                "execution": {"cell_timeout_s": 30, "notebook_timeout_s": 60, "test_call_timeout_s": 10},
                "model_files": ["model.pth"],
            }
        )
    )
    proc = subprocess.run(
        [sys.executable, str(HERE / "judge_harness.py"), str(job), "dies_after_hello"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=400,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((root / "out" / "result.json").read_text())
    assert result["infrastructure_error"] and "model inspector" in result["infrastructure_error"], result
    assert result["artifacts"] == []


def test_an_artifacts_dir_that_cannot_be_written_is_a_usage_error(tmp_path: Path):
    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    nb = tmp_path / "cw1.ipynb"
    nb.write_text(nbformat.writes(nbformat.v4.new_notebook()))
    for target in (taken, taken / "below"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "grader.cli",
                "grade",
                str(nb),
                "-c",
                "cw1",
                "--json",
                "--artifacts-dir",
                str(target),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2 and "--artifacts-dir" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stdout == ""  # nothing graded
    assert taken.read_text() == "not a folder"
