"""A canary placed in the hidden suite, the settings and the grader's environment is invisible
from inside the sandbox: in no file, no process environment and no command line."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]  # grades whole notebooks

CANARY = "canary-7f3a9c1e-hidden-from-every-student"  # long enough to pass as a real secret

# The notebook searches for the canary without containing it (reversed), and stores what it found.
SCAN = (
    textwrap.dedent("""
    import os
    needle = "%s"[::-1].encode()
    found = []
    skip = ("/proc/sys", "/sys", "/dev")
    for root, dirs, files in os.walk("/", followlinks=False):
        if root.startswith(skip) or (root.startswith("/proc/") and root.count("/") > 2):
            dirs[:] = []
            continue
        for name in files:
            path = os.path.join(root, name)
            try:
                with open(path, "rb") as fh:
                    if needle in fh.read(64 * 1024 * 1024):
                        found.append(path)
            except OSError:
                pass
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        for what in ("environ", "cmdline"):
            try:
                with open(f"/proc/{pid}/{what}", "rb") as fh:
                    if needle in fh.read():
                        found.append(f"/proc/{pid}/{what}")
            except OSError:
                pass
    env_hit = [k for k, v in os.environ.items() if needle.decode() in v or needle.decode() in k]
    found += env_hit
""")
    % CANARY[::-1]
)


def make_coursework(root: Path) -> Path:
    cw = root / "canary"
    (cw / "hidden").mkdir(parents=True)
    (cw / "rubric.yaml").write_text(
        textwrap.dedent("""\
        coursework: canary
        title: Canary
        weight: 0.4
        total_points: 1
        mode: full
        resources: {cell_timeout_s: 300, notebook_timeout_s: 300, time_s: 400}
        submission: {notebook: canary.ipynb}
        parts: [{id: "1", title: One, points: 1}]
        items:
          - {id: clean, part: "1", title: No canary visible, points: 1,
             auto: {tests: ["test_canary.py::test_nothing_found"]}}
        """)
    )
    (cw / "hidden" / "test_canary.py").write_text(
        textwrap.dedent(f"""\
        SECRET = "{CANARY}"  # the hidden suite's canary

        def test_nothing_found(student):
            found = student.run("r = found", outputs=["r"], timeout=30)["r"]
            assert found == [], f"canary visible at {{found}}"
        """)
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SCAN)])
    path = root / "canary.ipynb"
    nbformat.write(nb, path)
    return path


def test_canary_is_invisible_inside_the_sandbox(tmp_path: Path):
    notebook = make_coursework(tmp_path)
    env = {**os.environ, "GRADER_RUBRICS_DIR": str(tmp_path), "GRADER_SECRET_KEY": CANARY, "SOME_HOST_SECRET": CANARY}
    proc = subprocess.run(
        [sys.executable, "-m", "grader.cli", "grade", str(notebook), "--coursework", "canary", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    result = json.loads(proc.stdout)
    assert result["status"] == "graded", result
    item = result["items"][0]
    assert item["status"] == "passed", item["message"]
