"""Warm judges keep nothing of one job for the next: job A leaves traces everywhere it can, job B,
graded by the same pool right after (both by warm units), looks for them and finds none.

One probe for both jobs (a hidden test): in A it must find every trace (else it proves nothing),
in B none. On bwrap and on docker."""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import pytest
from rubric_factory import make_rubric

from grader.grading.limits import effective_limits
from grader.grading.pipeline import grade_submission
from grader.rubrics.loader import CourseworkFiles
from grader.settings import get_settings
from workers.judge.warm_pool import WarmJudges

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

TRACES = ["work", "tmp", "shm", "mplconfig", "history", "env", "module", "numpy", "global", "process", "rng"]

LEAVE = """\
import os, random, subprocess, sys
import numpy as np
for path in ("/work/left_a", "/tmp/left_a", "/dev/shm/left_a", os.environ["MPLCONFIGDIR"] + "/left_a"):
    open(path, "w").write("A")
os.environ["LEFT_A"] = "1"
sys.modules["left_a"] = type(sys)("left_a")
np.left_a = True
left_a_global = 1
subprocess.Popen(["/usr/bin/sleep", "4242"], start_new_session=True)
random.seed(1234)
np.random.seed(1234)
"""

PROBE = """\
import os, random, sqlite3, sys
import numpy as np
found = []
for name, path in (("work", "/work/left_a"), ("tmp", "/tmp/left_a"), ("shm", "/dev/shm/left_a"),
                   ("mplconfig", os.environ["MPLCONFIGDIR"] + "/left_a")):
    if os.path.exists(path):
        found.append(name)
db = os.path.join(os.environ["IPYTHONDIR"], "profile_default", "history.sqlite")
get_ipython().history_manager.writeout_cache()
if os.path.exists(db) and any("left_a_global" in row[0] for row in sqlite3.connect(db).execute("select source from history")):
    found.append("history")
if "LEFT_A" in os.environ:
    found.append("env")
if "left_a" in sys.modules:
    found.append("module")
if getattr(np, "left_a", False):
    found.append("numpy")
if "left_a_global" in globals():
    found.append("global")
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")[1:2] == [b"4242"]:
            found.append("process")
    except OSError:
        pass
state = random.getstate()
random.seed(1234)
same_random = random.getstate() == state
np_state = np.random.get_state()
np.random.seed(1234)
if same_random and (np.random.get_state()[1] == np_state[1]).all():
    found.append("rng")
"""

HIDDEN = f"""\
PROBE = {PROBE!r}


def test_clean(student):
    found = student.run(PROBE, outputs="found")["found"]
    assert not found, "found " + " ".join(found)


def test_seeded(student):
    # The rubric asks for reproducible runs: a warm kernel, started before its job, is seeded too.
    seeded = "import os, torch; s = [os.environ.get('GRADER_SEED'), torch.initial_seed()]"
    assert student.run(seeded, outputs="s")["s"] == ["7", 7]
"""


@pytest.fixture(scope="module")
def tiny_cw(tmp_path_factory: pytest.TempPathFactory) -> CourseworkFiles:
    folder = tmp_path_factory.mktemp("warm-cw")
    hidden = folder / "hidden"
    hidden.mkdir()
    (hidden / "test_probe.py").write_text(HIDDEN)
    item = {"part": "1", "points": 1}
    rubric = make_rubric(
        total_points=2,
        parts=[{"id": "1", "title": "Probe", "points": 2}],
        items=[
            {**item, "id": "clean", "title": "Clean", "auto": {"tests": ["test_probe.py::test_clean"]}},
            {**item, "id": "seed", "title": "Seed", "auto": {"tests": ["test_probe.py::test_seeded"]}},
        ],
        penalties=[],
        resources={"reproducible": True, "seed": 7},
    )
    return CourseworkFiles(rubric=rubric, folder=folder, hidden=hidden)


def notebook(folder: Path, *cells: str) -> Path:
    folder.mkdir()
    path = folder / "cwx.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]), path)
    return path


@pytest.mark.parametrize("backend", ["bwrap", "docker"])
def test_job_b_finds_nothing_of_job_a(backend: str, tiny_cw: CourseworkFiles, tmp_path: Path) -> None:
    settings = get_settings().model_copy(update={"sandbox_backend": backend})
    sandbox, _ = effective_limits(tiny_cw.rubric, settings)
    a, b = notebook(tmp_path / "a", LEAVE), notebook(tmp_path / "b", "x = 1")
    with WarmJudges(settings, size=1) as judges:
        judges.warm_for(backend, settings.runtime_dir, sandbox)
        left = grade_submission(a, tiny_cw, settings, judge=judges)
        after = grade_submission(b, tiny_cw, settings, judge=judges)
        assert (judges.warm_jobs, judges.cold_jobs) == (2, 0)
    assert left.status == "graded", left.error
    message = left.tests["test_probe.py::test_clean"].message
    assert message.split("found ", 1)[1].split() == TRACES, message  # the probe sees every trace where they are
    assert after.status == "graded", after.error
    assert after.tests["test_probe.py::test_clean"].outcome.value == "passed", after.tests
    assert [r.tests["test_probe.py::test_seeded"].outcome.value for r in (left, after)] == ["passed"] * 2
