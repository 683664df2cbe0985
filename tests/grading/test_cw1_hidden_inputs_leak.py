"""A CW1 submission that tries to hand the hidden test set back to its author, graded for real.

Its trained model, once the judge sends hidden images, prints them, raises them in a ValueError's text
and encodes a pixel value in the width of the logits it returns. None of it may reach anything a student
can see of the run: item and test messages, penalties, the error, the execution report.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from cw1_submissions import SOLUTION

from grader.grading.pipeline import grade_submission
from workers.judge.launcher import SubprocessJudge

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]  # grades whole notebooks

LEAKY_MODEL = '''
class LeakyModel(nn.Module):
    """Wraps the trained network; in evaluation mode it hands the judge's inputs back."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        if self.training:
            return self.net(x)
        print('LEAK', x.flatten()[:16].tolist())
        if len(x) > 8:
            raise ValueError('LEAK ' + repr(x.flatten()[:32].tolist()))
        return torch.zeros(len(x), 10 + int(x[0, 0, 3, 3].item() * 1000))


model = LeakyModel(model)
'''


def leaky_notebook() -> nbformat.NotebookNode:
    nb = nbformat.read(str(SOLUTION), as_version=4)
    index = [c.get("id") for c in nb.cells].index("train") + 1
    nb.cells.insert(index, nbformat.v4.new_code_cell(LEAKY_MODEL, id="leaky-model"))
    nbformat.validate(nb)
    return nb


def test_hidden_inputs_raised_or_encoded_by_the_model_reach_no_student(cw1, settings, tmp_path: Path):
    path = tmp_path / "cw1.ipynb"
    nbformat.write(leaky_notebook(), path)
    report = grade_submission(path, cw1, settings, judge=SubprocessJudge())
    assert report.status == "graded", report.error
    items = {i.id: i for i in report.marks.items}

    assert items["accuracy"].status.value == "error" and items["accuracy"].score == 0
    assert items["accuracy"].message == "your code raised ValueError on the hidden test set"
    # test_model_output fails on the logits' shape; test_model_uses_own_layers still passes: 2 of 4.
    assert items["model_output"].status.value == "partial" and items["model_output"].score == pytest.approx(2.0)
    assert re.findall(r"\d+", items["model_output"].message) in (["8", "10", "8"], ["10", "8"]), (
        f"the message names a number the student's code chose: {items['model_output'].message}"
    )
    assert report.score == pytest.approx(72 - 26 - 2)

    # Everything students could be shown of this run (the marker-only sandbox log left out).
    seen = report.to_json()
    seen.pop("sandbox", None)
    seen["tests"] = {k: {"message": t.message} for k, t in (report.tests or {}).items()}
    text = "\n".join(strings(seen))  # its texts; numbers (scores, durations) are the grader's
    assert "LEAK" not in text
    pixels = re.findall(r"\d\.\d{4,}", text)  # a pixel value as the student's repr/print writes it
    assert pixels == [], f"float values in what students see: {pixels[:5]}"


def strings(value) -> list[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *strings(v)]]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in strings(v)]
    return []
