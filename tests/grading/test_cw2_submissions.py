"""Each CW2 sample submission (a zip of the notebook and model files, written the way real ones are)
gets exactly the marks it must; files missing from or extra in the zip are refused with a clear message.

Grading one CW2 sample takes 15-30 s on a loaded 2-core machine (definitions mode, the real course's
shapes; the two GANs at the parameter limit about twice that).
"""

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cw2_submissions import MODEL_FILES, NOTEBOOK, SOLUTION_ZIP, SUBMISSIONS, _members, _notebook, colab

from grader.grading.pipeline import grade_submission
from grader.rubrics.loader import load_coursework
from workers.judge.launcher import SubprocessJudge

# Each picture with the item whose test draws it: the markers decide 2.1c and 1.2b from them, and a
# student sees them as those (after-release) items' output.
ARTIFACTS = {
    "gan-fixed-noise": "gan_images",
    "gan-judge-noise": "gan_images",
    "vae-reconstructions": "vae_reconstruction",
}

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


@pytest.fixture(scope="session")
def cw2(settings):
    return load_coursework("cw2", settings)


def suggested(message: str) -> float | None:
    found = re.match(r"suggested ([0-9.]+)/", message or "")
    return float(found.group(1)) if found else None


@pytest.mark.parametrize("name", sorted(SUBMISSIONS))
def test_submission_gets_its_expected_marks(name, cw2, settings, graded_cw2):
    expected = SUBMISSIONS[name].expected
    report, ran_code_on_host = graded_cw2(name, cw2, settings)  # graded once per run, shared
    assert not ran_code_on_host, "a model file ran code on the grading host"
    assert report.status == "graded", report.error
    items = {i.id: i for i in report.marks.items}
    detail = {i.id: (i.score, i.status.value, i.message) for i in report.marks.items if i.score < i.max_score}
    assert abs(report.score - expected.score) <= 0.01, f"{name}: {report.score} ({expected.why}); short: {detail}"
    for item_id, status in expected.items.items():
        assert items[item_id].status.value in status.split("|"), (item_id, items[item_id])
    for item_id, score in expected.item_scores.items():
        assert items[item_id].score == pytest.approx(score, abs=0.01), (item_id, items[item_id])
    applied = sorted(p.id for p in report.marks.penalties if p.applied)
    assert applied == sorted(expected.penalties), [(p.id, p.message) for p in report.marks.penalties if p.applied]
    images = items["gan_images"]
    assert images.status.value == "manual" and images.score == 0  # a suggestion counts once a marker confirms it
    if expected.suggested is not None:
        assert suggested(images.message) == expected.suggested, images.message


def test_the_colab_sample_loses_only_what_it_should(cw2, settings, graded_cw2):
    """Its Colab lines go (drive, !pip, %matplotlib, the MNIST download) and nothing else: the
    torchvision imports and the given cells that use transforms.Compose and make_grid run."""
    report, _ = graded_cw2("colab", cw2, settings)
    nb = colab(_notebook(_members(SOLUTION_ZIP)))
    index = {cell.get("id"): n for n, cell in enumerate(nb.cells)}
    cells = {c["index"]: c for c in report.execution["cells"]}
    for cell_id in ("imports", "vae-data", "gan-data", "vae", "gan"):
        assert cells[index[cell_id]]["status"] == "ok", (cell_id, cells[index[cell_id]])
    skipped = report.execution["skipped"]
    download = [s for s in skipped if "datasets.MNIST" in s["source"]]
    assert len(download) == 1 and "download" in download[0]["reason"], skipped
    dropped_in_data = [s for s in skipped if s["cell"] == index["vae-data"]]
    assert all("datasets.MNIST" in s["source"] or s["source"].startswith("plt.") for s in dropped_in_data), skipped


def _zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(SOLUTION_ZIP) as src, zipfile.ZipFile(path, "w") as dst:
        for name in names:
            dst.writestr(name, src.read(name) if name in src.namelist() else b"notes\n")
    return path


@pytest.mark.parametrize(
    "names, message",
    [
        ([NOTEBOOK, "VAE_model.pth", "GAN_G_model.pth"], "missing GAN_D_model.pth"),
        ([NOTEBOOK, *MODEL_FILES, "notes.txt"], "unexpected notes.txt"),
        (["VAE_model.pth", "GAN_G_model.pth", "GAN_D_model.pth"], "missing cw2.ipynb"),
    ],
)
def test_missing_or_extra_files_are_refused_with_a_clear_message(names, message, cw2, settings, tmp_path: Path):
    report = grade_submission(_zip(tmp_path / "sub.zip", names), cw2, settings, judge=SubprocessJudge())
    assert report.status == "error" and report.error_kind == "submission", report
    assert report.error.startswith("the zip must hold GAN_D_model.pth, GAN_G_model.pth, VAE_model.pth, cw2.ipynb: ")
    assert message in report.error, report.error


def test_a_bare_notebook_is_refused(cw2, settings, tmp_path: Path):
    notebook = tmp_path / "cw2.ipynb"
    with zipfile.ZipFile(SOLUTION_ZIP) as src:
        notebook.write_bytes(src.read(NOTEBOOK))
    report = grade_submission(notebook, cw2, settings, judge=SubprocessJudge())
    assert report.status == "error" and report.error_kind == "submission"
    assert report.error == (
        "this coursework needs a zip holding cw2.ipynb and VAE_model.pth, GAN_G_model.pth, GAN_D_model.pth."
    )


def test_reference_through_the_cli_with_its_pictures(cw2, tmp_path: Path):
    out = tmp_path / "pictures"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader.cli",
            "grade",
            str(cw2.solution),
            "--coursework",
            "cw2",
            "--json",
            "--artifacts-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "graded" and result["score"] == result["auto_max_score"] == 28
    assert result["max_score"] == 100 and result["execution"]["mode"] == "definitions"
    skipped = {s["reason"].split(" (")[0] for s in result["execution"]["skipped"]}
    assert {"training call", "writes files"} <= skipped  # the notebook's training and saving did not run
    assert {a["name"]: a["item_id"] for a in result["artifacts"]} == ARTIFACTS
    assert {a["test"] for a in result["artifacts"]} == {
        "test_gan.py::test_generated_images",
        "test_vae_model.py::test_reconstruction",
    }
    rubric = {i.id: i for i in cw2.rubric.items}
    assert {rubric[item].visibility.value for item in ARTIFACTS.values()} == {"after_release"}
    for name in ARTIFACTS:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cw2_rubric_is_sound():
    proc = subprocess.run(
        [sys.executable, "-m", "grader.cli", "rubric", "check", "cw2"], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reference earns 28/28 auto points" in proc.stdout
    assert "skeleton earns 0/28 auto points" in proc.stdout
