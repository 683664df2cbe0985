"""Agreement with nbgrader and Otter-Grader, measured against the tools themselves (issue 15, item 4).

The corpus (bench/peer_corpus/agreement.py): one assignment per tool in its own format and 20 student
notebooks each, generated from the solution. Each tool grades its 20 itself (tests/importers/
peer_tools.py: nbgrader autograde, Otter's grading API, from their own virtualenv); grader imports
each assignment with ``grader import`` and grades the same 20 in one batch (``grader grade FOLDER``).

Every auto score agrees, question by question, except exactly the documented cases, where the
difference asserted is the documented one (docs/importing-agreement.md):

- a monkeypatched checker (``np.allclose`` for nbgrader, doctest's output checker for Otter): the tool
  gives the points the patch forges; grader compares out of the student's reach and gives the answers'
  own score;
- nbgrader and deleted test cells: nbgrader gives 0 for each deleted cell; grader's judge still tests.

Replaced (emptied) test cells and a looping cell agree: nbgrader puts a replaced test cell back by its
``grade_id``, Otter runs its tests after the notebook whatever the check cells say, and both tools
interrupt a looping cell at a per-cell timeout and carry on, as grader does.

The tools' scores are also checked against what each notebook was built to score, and the table
(students x tools) with the time per notebook of each is printed and written to
tests/artifacts/agreement.md. Each tool grades once per test run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import peer_tools
import pytest
import yaml
from peer_tools import corpus
from sample_grades import once_per_run

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

TOOLS = ("nbgrader", "otter")
COURSEWORK = {"nbgrader": "agree_nbgrader", "otter": "agree_otter"}
GRADER = [sys.executable, "-m", "grader.cli"]
ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "agreement.md"


@dataclass
class GraderRun:
    scores: dict[str, dict[str, float]]  # student -> question id -> score
    seconds: float  # the batch of 20, wall
    import_seconds: float


def _grader_run(tool: str, folder: Path) -> GraderRun:
    sources = corpus.write_corpus(folder / "corpus")
    rubrics = folder / "rubrics"
    cw = COURSEWORK[tool]
    start = time.perf_counter()
    # The tools' per-cell timeout for grader too (the default is minutes): the looping cell costs each the same.
    timeout = str(peer_tools.CELL_TIMEOUT_S)
    proc = subprocess.run(
        [*GRADER, "import", tool, str(sources[tool]), "--coursework", cw, "--out", str(rubrics), "--no-check"]
        + ["--cell-timeout", timeout],
        capture_output=True,
        text=True,
        timeout=120,
    )
    import_seconds = time.perf_counter() - start
    assert proc.returncode == 0, f"grader import {tool}:\n{proc.stdout}\n{proc.stderr}"
    rubric = yaml.safe_load((rubrics / cw / "rubric.yaml").read_text())
    assert rubric["resources"]["cell_timeout_s"] == peer_tools.CELL_TIMEOUT_S, rubric.get("resources")
    env = {**os.environ, "GRADER_RUBRICS_DIR": str(rubrics)}
    start = time.perf_counter()
    proc = subprocess.run(
        [*GRADER, "grade", str(sources[tool].parent / "students"), "--coursework", cw, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    seconds = time.perf_counter() - start
    assert proc.returncode in (0, 1), proc.stderr
    ids = corpus.item_ids(tool)
    by_item = {v: k for k, v in ids.items()}
    scores = {}
    for line in proc.stdout.splitlines():
        result = json.loads(line)
        assert result["status"] == "graded", f"{result['path']}: {result['error']}"
        items = {i["id"]: float(i["score"]) for i in result["items"] if i["id"] in by_item}
        assert set(items) == set(by_item), f"{result['path']}: items {sorted(i['id'] for i in result['items'])}"
        scores[Path(result["path"]).stem] = {by_item[i]: s for i, s in items.items()}
    return GraderRun(scores, seconds, import_seconds)


def _agreement(folder: Path) -> tuple[dict[str, peer_tools.ToolRun], dict[str, GraderRun] | str]:
    """Two lanes side by side, so that the file stays within about three minutes on two cores: Otter
    (the slowest) in one; nbgrader, then grader on both imports, in the other. Every run so shares the
    machine with one other."""
    peer_tools.ensure_peer_tools()
    corpus.write_corpus(folder / "corpus")

    def nbgrader_then_grader() -> tuple[peer_tools.ToolRun, dict[str, GraderRun] | str]:
        run = peer_tools.grade_with("nbgrader", folder / "corpus", folder / "nbgrader")
        try:
            return run, {t: _grader_run(t, folder / f"grader-{t}") for t in TOOLS}
        except AssertionError as exc:  # grader's failure is the agreement test's, not the tools' test's
            return run, f"grader could not import or grade the corpus: {exc}"

    with ThreadPoolExecutor(2) as pool:
        lane = pool.submit(nbgrader_then_grader)
        otter = pool.submit(peer_tools.grade_with, "otter", folder / "corpus", folder / "otter")
        nbgrader, grader = lane.result()
        return {"nbgrader": nbgrader, "otter": otter.result()}, grader


@pytest.fixture(scope="module")
def agreement(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, peer_tools.ToolRun], dict[str, GraderRun] | str]:
    return once_per_run(tmp_path_factory, "peer-agreement", _agreement)


@pytest.fixture(scope="module")
def tool_runs(agreement) -> dict[str, peer_tools.ToolRun]:
    return agreement[0]


@pytest.fixture(scope="module")
def grader_runs(agreement) -> dict[str, GraderRun]:
    if isinstance(agreement[1], str):
        pytest.fail(agreement[1])
    return agreement[1]


def documented_difference(tool: str, student: corpus.Student) -> bool:
    """The documented cases where grader and the tool may differ (and must, as built)."""
    return student.tamper or (tool == "nbgrader" and student.tests == "deleted")


@pytest.mark.parametrize("tool", TOOLS)
def test_each_tool_scores_each_notebook_as_it_was_built(tool: str, tool_runs: dict[str, peer_tools.ToolRun]):
    run = tool_runs[tool]
    wrong = {
        s.name: (run.scores.get(s.name), corpus.expected(tool, s))
        for s in corpus.STUDENTS
        if run.scores.get(s.name) != corpus.expected(tool, s)
    }
    assert not wrong, f"{tool} (got, built to score): {wrong}"


def _table(tool_runs: dict[str, peer_tools.ToolRun], grader_runs: dict[str, GraderRun]) -> str:
    n = len(corpus.STUDENTS)
    lines = [
        "# Agreement with nbgrader 0.9.6 and otter-grader 7.0.0",
        "",
        "Auto score per question, `tool / grader` (`=` where they agree); `*` marks a documented difference.",
        "",
        "| student | kind | " + " | ".join(f"{t} {q}" for t in TOOLS for q in corpus.QIDS) + " |",
        "|---|---|" + "---|" * (len(TOOLS) * len(corpus.QIDS)),
    ]
    for s in corpus.STUDENTS:
        cells = []
        for t in TOOLS:
            theirs, ours = tool_runs[t].scores.get(s.name, {}), grader_runs[t].scores.get(s.name, {})
            for q in corpus.QIDS:
                a, b = theirs.get(q), ours.get(q)
                mark = "*" if documented_difference(t, s) and a != b else ""
                cells.append(f"{a:g} =" if a == b and a is not None else f"{a} / {b}{mark}")
        lines.append(f"| {s.name} | {s.kind} | " + " | ".join(cells) + " |")
    lines += ["", f"Time per notebook ({n} notebooks; two at a time: Otter | nbgrader, then grader):", ""]
    lines += [
        "| tool | tool s/notebook | grader s/notebook | tool set-up s | grader import s |",
        "|---|---|---|---|---|",
    ]
    for t in TOOLS:
        tr, gr = tool_runs[t], grader_runs[t]
        lines.append(
            f"| {t} | {tr.seconds / n:.2f} | {gr.seconds / n:.2f} | {tr.setup_seconds:.1f} | {gr.import_seconds:.1f} |"
        )
        if tr.regraded:
            lines.append(f"| {t} regraded (timeout under load) | {', '.join(tr.regraded)} | | | |")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("tool", TOOLS)
def test_grader_agrees_with_the_tool_except_the_documented_cases(
    tool: str, tool_runs: dict[str, peer_tools.ToolRun], grader_runs: dict[str, GraderRun]
):
    table = _table(tool_runs, grader_runs)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(table)
    print("\n" + table)
    theirs, ours = tool_runs[tool].scores, grader_runs[tool].scores
    assert set(ours) == {s.name for s in corpus.STUDENTS}
    for s in corpus.STUDENTS:
        # grader gives each notebook its answers' own score, whatever it did to the tests or the checker
        assert ours[s.name] == corpus.grader_expected(tool, s), f"grader on {s.name} ({s.kind})"
        if documented_difference(tool, s):
            assert theirs[s.name] == corpus.expected(tool, s), f"{tool} on {s.name} ({s.kind})"
            assert theirs[s.name] != ours[s.name], f"{s.name} ({s.kind}): the documented difference is gone"
        else:
            assert theirs[s.name] == ours[s.name], (
                f"{s.name} ({s.kind}): {tool} {theirs[s.name]}, grader {ours[s.name]}"
            )
