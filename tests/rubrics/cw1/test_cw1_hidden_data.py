"""CW1's hidden test set is data no student can obtain: drawn by the course's digit generator from a
secret seed, kept as .npy in the hidden suite, in no file shipped to students, and unlike any of
scikit-learn's digits (which every student has). Fast: nothing is graded here."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
CW1 = REPO / "rubrics" / "cw1"
HIDDEN = CW1 / "hidden"
RUNTIME = Path("/opt/grader/runtime")


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits():
    return _module("cw1_digits", CW1 / "digits.py")


@pytest.fixture(scope="module")
def hidden_conftest():
    return _module("cw1_hidden_conftest_data", HIDDEN / "conftest.py")


@pytest.fixture(scope="module")
def hidden_split(hidden_conftest):
    """What the judge sends to the student's kernel in one run (seed 1), and the labels it keeps."""
    return hidden_conftest.hidden_test_split(HIDDEN, 1)


def test_generator_is_deterministic_balanced_and_in_range(digits):
    images, labels = digits.make_digits(40, seed=5)
    again, again_labels = digits.make_digits(40, seed=5)
    other, _ = digits.make_digits(40, seed=6)
    assert images.shape == (40, 8, 8) and images.dtype == np.float32 and labels.dtype == np.int64
    assert np.array_equal(images, again) and np.array_equal(labels, again_labels)
    assert not np.allclose(images, other)
    assert np.bincount(labels, minlength=10).tolist() == [4] * 10
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert (images.reshape(40, -1).max(axis=1) > 0.5).all(), "every image shows a digit"


def test_hidden_set_is_npy_and_every_digit_is_there():
    for name in ("digits_test_images.npy", "digits_test_labels.npy"):
        with open(HIDDEN / name, "rb") as fh:
            assert fh.read(6) == b"\x93NUMPY", f"{name} is not a .npy file"
    images = np.load(HIDDEN / "digits_test_images.npy", allow_pickle=False)
    labels = np.load(HIDDEN / "digits_test_labels.npy", allow_pickle=False)
    assert images.shape == (len(labels), 1, 8, 8) and images.dtype == np.float32
    assert len(labels) >= 500 and np.bincount(labels, minlength=10).min() >= len(labels) // 10
    assert not list(HIDDEN.glob("*.pkl")) and not list(HIDDEN.glob("*.pickle"))


def test_judge_sends_images_unlike_any_sklearn_digit(hidden_split):
    """Every image the judge sends is far from every scikit-learn digit, shifted by up to a pixel or not.
    The old hidden set (scikit-learn's last 297 digits, shifted and noised) lies within 0.06 RMS of one."""
    from sklearn.datasets import load_digits

    sent, _ = hidden_split
    padded = np.pad(load_digits().images / 16.0, ((0, 0), (1, 1), (1, 1)))
    public = np.concatenate([padded[:, dy : dy + 8, dx : dx + 8].reshape(-1, 64) for dy in range(3) for dx in range(3)])
    flat = sent.reshape(len(sent), 64).astype(np.float64)
    d2 = (flat**2).sum(1)[:, None] + (public**2).sum(1)[None, :] - 2 * flat @ public.T
    nearest = np.sqrt(np.maximum(d2, 0).min(axis=1) / 64)  # per-pixel RMS distance to the nearest
    assert nearest.min() > 0.08, f"a hidden image is within {nearest.min():.3f} RMS of a scikit-learn digit"


def test_hidden_set_is_not_the_public_training_draw(digits, hidden_split):
    sent, _ = hidden_split
    train, _ = digits.make_digits(1500, seed=2026)  # the notebook's TRAIN_SEED
    flat, pub = sent.reshape(len(sent), 64), train.reshape(len(train), 64)
    d2 = (flat**2).sum(1)[:, None] + (pub**2).sum(1)[None, :] - 2 * flat @ pub.T
    assert np.sqrt(np.maximum(d2, 0).min(axis=1) / 64).min() > 0.03


def test_each_run_sends_the_hidden_set_in_its_own_order_and_noise(hidden_conftest):
    a, la = hidden_conftest.hidden_test_split(HIDDEN, 1)
    b, lb = hidden_conftest.hidden_test_split(HIDDEN, 2)
    assert sorted(la.tolist()) == sorted(lb.tolist()) and not np.array_equal(la, lb)
    stored = np.load(HIDDEN / "digits_test_images.npy", allow_pickle=False).reshape(len(a), 64)
    assert not (stored[:, None, :] == a.reshape(len(a), 1, 64)).all(axis=2).any(), "an image was sent unchanged"


def test_notebooks_for_students_hold_the_generator_not_the_hidden_set(hidden_split):
    """The skeleton trains on the public seed; no hidden pixel value is written into either notebook."""
    images = np.load(HIDDEN / "digits_test_images.npy", allow_pickle=False)
    probes = {f"{v:.6f}" for v in images.ravel() if 0.05 < v < 0.95}
    for name in ("skeleton.ipynb", "solution.ipynb"):
        nb = nbformat.read(CW1 / name, as_version=4)
        text = (CW1 / name).read_text()
        assert "load_digits" not in text and "digits_test" not in text
        assert any(c.get("id") == "digits" and "def make_digits" in c.source for c in nb.cells)
        assert not [p for p in probes if p in text], f"{name} holds hidden pixel values"


def test_student_runtime_holds_no_copy_of_the_hidden_files():
    assert RUNTIME.is_dir(), "the student runtime is not installed (scripts/install_runtime.sh)"
    wanted = {}
    for path in HIDDEN.glob("*.npy"):
        wanted.setdefault(path.stat().st_size, set()).add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(wanted) == 2, "the hidden set's two .npy files are missing"
    found = []
    for root, _, files in os.walk(RUNTIME):
        for name in files:
            path = Path(root) / name
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size in wanted and hashlib.sha256(path.read_bytes()).hexdigest() in wanted[size]:
                found.append(str(path))
    assert found == []


def test_make_hidden_set_refuses_a_set_without_every_digit(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(CW1 / "make_hidden_set.py"), str(tmp_path), "--count", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "at least one image of each digit" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_make_hidden_set_draws_a_new_secret_set_each_time(tmp_path):
    for out in ("a", "b"):
        proc = subprocess.run(
            [sys.executable, str(CW1 / "make_hidden_set.py"), str(tmp_path / out), "--count", "20"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
    a = np.load(tmp_path / "a" / "digits_test_images.npy", allow_pickle=False)
    b = np.load(tmp_path / "b" / "digits_test_images.npy", allow_pickle=False)
    assert a.shape == b.shape == (20, 1, 8, 8) and not np.allclose(a, b)


RECORDING_HARNESS = '''
import json, sys
from pathlib import Path
import numpy as np
from workers.judge.plugin import JudgePlugin, Submission
from workers.judge.run import run_suite

class RecordingStudent:
    """Stands in for the student's kernel at the judge's protocol boundary: records every call."""
    violation, _on_violation, report = None, None, {"mode": "full"}
    calls = []

    def run(self, code, inputs=None, outputs=(), timeout=None):
        inputs = inputs or {}
        self.calls.append({"code": code, "inputs": {k: [str(np.asarray(v).dtype), list(np.shape(v))]
                                                    for k, v in inputs.items()}})
        np.save(Path(sys.argv[1]) / f"call{len(self.calls)}.npy", inputs["images"], allow_pickle=False)
        return {"logits": np.zeros((len(inputs["images"]), 10))}

root = Path(sys.argv[1])
student = RecordingStudent()
plugin = JudgePlugin(student, Submission(root, None), root / "hidden", seed=7)
error = run_suite(plugin, root / "hidden")
print("@@" + json.dumps({"calls": student.calls, "tests": plugin.results, "error": error}))
'''


def test_the_accuracy_test_sends_the_kernel_images_only(tmp_path):
    """What the judge hands the kernel for the accuracy item: the hidden images, nothing else (the
    student's kernel is a recording stand-in here, at the protocol boundary, to see every input)."""
    import json
    import shutil

    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for name in ("conftest.py", "test_accuracy.py", "digits_test_images.npy", "digits_test_labels.npy"):
        shutil.copyfile(HIDDEN / name, hidden / name)
    proc = subprocess.run(
        [sys.executable, "-c", RECORDING_HARNESS, str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("@@")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(line[2:])
    labels = np.load(HIDDEN / "digits_test_labels.npy", allow_pickle=False)
    assert result["error"] is None
    assert [c["inputs"] for c in result["calls"]] == [{"images": ["float32", [len(labels), 1, 8, 8]]}]
    assert "label" not in result["calls"][0]["code"]
    sent = np.load(tmp_path / "call1.npy", allow_pickle=False)
    stored = np.load(HIDDEN / "digits_test_images.npy", allow_pickle=False)
    assert sent.shape == stored.shape and not np.array_equal(sent, stored)  # reordered and noised
    # Zero logits predict class 0 for every image: 10 % here, and no marks.
    (outcome,) = result["tests"].values()
    assert outcome["outcome"] == "failed" and outcome["message"].startswith("accuracy on the hidden test set 10.0%")
    assert np.bincount(labels)[0] / len(labels) == 0.1
