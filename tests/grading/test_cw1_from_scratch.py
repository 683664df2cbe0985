"""CW1's from-scratch rule seen at run time (rubrics/cw1/hidden/test_runtime_layers.py): a layer that
reaches torch's own convolution by a spelling the source check cannot read is reported to the
marker, as a suggested penalty (never applied by the run), and an honest submission is not.
Whole grading runs: real bwrap, a real kernel, the real hidden suite."""

import nbformat
import pytest
from cw1_submissions import SOLUTION, _load
from notebook_edits import cell

from grader.grading.pipeline import grade_submission
from workers.judge.launcher import SubprocessJudge

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]  # grades whole notebooks

RUNTIME_PENALTY = "library_layers_at_runtime"


def getattr_trick() -> nbformat.NotebookNode:
    """Conv2d.forward calls F.conv2d under a name built at run time: no spelling to find."""
    nb = _load(SOLUTION)
    conv = cell(nb, "conv2d")
    start = conv.source.index("        n, _, h, w = x.shape")
    conv.source = conv.source[:start] + (
        "        library = getattr(F, 'con' + 'v2d')\n"
        "        return library(x, self.weight, self.bias, stride=self.stride, padding=self.padding)\n"
    )
    nbformat.validate(nb)
    return nb


def graded(nb: nbformat.NotebookNode, cw1, settings, tmp_path):
    tmp_path.mkdir()
    path = tmp_path / "cw1.ipynb"
    nbformat.write(nb, path)
    report = grade_submission(path, cw1, settings, judge=SubprocessJudge())
    assert report.status == "graded", report.error
    return report, {p.id: p for p in report.marks.penalties}


def test_the_getattr_trick_is_flagged_for_the_marker_and_an_honest_submission_is_not(cw1, settings, tmp_path):
    report, penalties = graded(getattr_trick(), cw1, settings, tmp_path / "trick")
    assert not penalties["library_layers"].applied, "the source check was expected to be blind to getattr"
    flagged = penalties[RUNTIME_PENALTY]
    assert not flagged.applied, "a suggestion is for the marker: the run must not apply it"
    assert flagged.message.startswith("suggested: ") and "Conv2d ran torch's own" in flagged.message, flagged
    assert "conv2d" in flagged.message and "aten.convolution" in flagged.message, flagged.message
    for other in ("MaxPool2d", "BatchNorm2d", "Linear"):
        assert other not in flagged.message, flagged.message  # only the layer that cheated is named
    assert report.score == pytest.approx(72.0)  # every auto item passes; no penalty applied by the run

    report, penalties = graded(_load(SOLUTION), cw1, settings, tmp_path / "honest")
    assert penalties[RUNTIME_PENALTY].message == "" and not penalties[RUNTIME_PENALTY].applied
    assert report.score == pytest.approx(72.0)
