"""Canaries for the visibility suite: two rubrics, the hidden tests' results, and the scanner that
looks for what a student must not read.

Canary numbers. Every visible item scores a whole number and is out of a whole number; every
after-release or hidden score, penalty, manual mark and maximum has a fractional part from
{.01, .02, .04, .08, .16, .32}. A sum or difference of distinct ones of those is never a whole
number (binary), so any total a hidden or after-release value is part of is not a whole number,
and no sum of visible items can make one. Before release a student's body may therefore hold
no number with a fraction at all, but for the few listed in ``INNOCENT_NUMBERS``.

Canary strings. ``NEVER`` never reaches a student (hidden messages and comments, infrastructure
errors, hidden test ids, logs, the output of hidden items and of no item); ``UNTIL_RELEASE`` only
after release (hidden names, after-release messages, marker comments, after-release items' output).

Artifacts. The graded mix run keeps one real PNG per kind of drawer (``ARTIFACTS``): a visible
item's test, an after-release item's, a hidden item's, a penalty's test (no item) and a fixture (no
test). They go through the worker's own functions: the judge's ``Artifacts`` (its record names the
test drawing, as the judge's plugin sets it), the pipeline's ``collect_artifacts`` (test -> item),
the worker's ``store_artifacts`` and ``complete_run``. Each PNG's title and sha256 are canaries of
the item's visibility: the sha256 is in every list and in every download's ``X-Content-SHA256``.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import uuid
from pathlib import Path

import nbformat
import numpy as np
from sqlalchemy import select

from grader.grading.pipeline import collect_artifacts
from grader.grading.report import GradeReport
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.runs.service import claim_run, complete_run
from grader.scoring.auto import auto_marks
from grader.scoring.outcomes import TestOutcome, TestResult
from workers.judge.artifacts import image_png
from workers.judge.kept import Artifacts
from workers.run_outputs import store_artifacts

MIX = """\
coursework: mix
title: "Mix: every visibility"
version: "1"
weight: 0.4
total_points: 22.38
deadline: 2099-01-15T12:00:00
timezone: Europe/London
late_policy: {grace_minutes: 0, per_day_fraction: 0.1, max_days: 7}
submission: {notebook: mix.ipynb, max_mb: 1}
mode: full
resources: {queue: cpu}
parts:
  - {id: p1, title: "Part 1: automatic", points: 16.06}
  - {id: p2, title: "Part 2: by hand", points: 6.32}
items:
  - {id: vis_shape, part: p1, title: "1a Shapes", points: 4, auto: {tests: ["test_mix.py::test_shape"]}, visibility: visible}
  - {id: vis_dtype, part: p1, title: "1b Dtypes", points: 2, auto: {tests: ["test_mix.py::test_dtype"]}, visibility: visible}
  - {id: later_values, part: p1, title: "1c Values", points: 6.02, auto: {tests: ["test_mix.py::test_values"]}, visibility: after_release}
  - {id: hid_zq1, part: p1, title: "1d CANARY_HIDDEN_TITLE_zq1", points: 4.04, auto: {tests: ["test_mix.py::test_hidden_zq1"]}, visibility: hidden}
  - {id: essay, part: p2, title: "2a Discussion", points: 5.32, manual: true, visibility: visible}
  - {id: hid_manual_zq2, part: p2, title: "2b CANARY_HIDDEN_MANUAL_TITLE_zq2", points: 1, manual: true, visibility: hidden}
penalties:
  - {id: pen_vis, title: "Plots without labels", points: 1, auto: {tests: ["test_mix.py::test_labels"]}, visibility: visible}
  - {id: pen_later, title: "Cells out of order", points: 0.04, auto: {tests: ["test_mix.py::test_order"]}, visibility: after_release}
  - {id: pen_hid_zq3, title: "CANARY_HIDDEN_PENALTY_TITLE_zq3", points: 0.08, auto: {tests: ["test_mix.py::test_hidden_pen_zq3"]}, visibility: hidden}
"""

# Nothing visible at all: the visible score is 0 out of 0.
DARK = """\
coursework: dark
title: "Dark: nothing shown before release"
version: "1"
weight: 0.6
total_points: 6.06
deadline: 2099-01-15T12:00:00
timezone: Europe/London
submission: {notebook: dark.ipynb, max_mb: 1}
mode: full
resources: {queue: cpu}
parts:
  - {id: q1, title: "Part 1", points: 6.06}
items:
  - {id: dark_later, part: q1, title: "1a Later", points: 2.02, auto: {tests: ["test_dark.py::test_later"]}, visibility: after_release}
  - {id: dark_hid_zq4, part: q1, title: "1b CANARY_HIDDEN_TITLE_zq4", points: 4.04, auto: {tests: ["test_dark.py::test_hidden_zq4"]}, visibility: hidden}
"""
RUBRICS = {"mix": MIX, "dark": DARK}

RESULTS = {
    "mix": {
        "test_mix.py::test_shape": TestResult(TestOutcome.failed, 0.75, "CANARY_VISIBLE_MSG_shape"),  # 3 of 4
        "test_mix.py::test_dtype": TestResult(TestOutcome.passed, 1.0, ""),  # 2 of 2
        "test_mix.py::test_values": TestResult(TestOutcome.failed, 0.5, "CANARY_LATER_MSG_values"),  # 3.01
        "test_mix.py::test_hidden_zq1": TestResult(TestOutcome.failed, 0.5, "CANARY_HIDDEN_MSG_zq1"),  # 2.02
        "test_mix.py::test_labels": TestResult(TestOutcome.failed, 0.0, "CANARY_VISIBLE_PEN_MSG_labels"),  # -1
        "test_mix.py::test_order": TestResult(TestOutcome.failed, 0.0, "CANARY_LATER_PEN_MSG_order"),  # -0.04
        "test_mix.py::test_hidden_pen_zq3": TestResult(TestOutcome.failed, 0.0, "CANARY_HIDDEN_PEN_MSG_zq3"),  # -0.08
    },
    "dark": {
        "test_dark.py::test_later": TestResult(TestOutcome.failed, 0.5, "CANARY_LATER_MSG_dark"),  # 1.01
        "test_dark.py::test_hidden_zq4": TestResult(TestOutcome.failed, 0.5, "CANARY_HIDDEN_MSG_zq4"),  # 2.02
    },
}
# A regrade preview's staged run of mix (a fixed suite): until the lecturer applies the preview no
# reader may see it, so its visible item's message is a canary a student must never read.
STAGED_RESULTS = {
    **RESULTS["mix"],
    "test_mix.py::test_shape": TestResult(TestOutcome.passed, 1.0, "CANARY_STAGED_shape"),  # 4 of 4
}
# What the graded runs score: every auto item minus the run's penalties, and the visible part.
MIX_RUN_SCORE, MIX_VISIBLE = 8.91, (5.0, 6.0)
DARK_RUN_SCORE, DARK_VISIBLE = 3.03, (0.0, 0.0)
HIDDEN_ITEM_SCORE = 2.02  # hid_zq1 and dark_hid_zq4: shown (as a score) after release

# Marker marks on the counting mix submission: (item, score, comment).
MANUAL_MARKS = [
    ("essay", 4.16, "CANARY_ESSAY_COMMENT"),
    ("hid_manual_zq2", 0.32, "CANARY_HIDDEN_COMMENT_zq2"),
    ("hid_zq1", 2.02, "CANARY_HIDDEN_COMMENT_zq1"),
]  # an override of a hidden item, same score
MIX_TOTAL = 13.39  # 3 + 2 + 3.01 + 2.02 + 4.16 + 0.32 - 1 - 0.04 - 0.08

INFRA_RETRIED = "CANARY_INFRA_RETRIED: judge crashed; FAILED test_mix.py::test_hidden_zq1 - AssertionError: 0.37"
INFRA_FINAL = "CANARY_INFRA_FINAL: sandbox died; pytest tail: test_dark.py::test_hidden_zq4 expected [4, 2]"
RUN_LOG = "CANARY_LOG judge output: test_hidden_zq1 test_hidden_zq4"
ARTIFACT_TITLE = "CANARY_ART_TITLE grid from the judge's noise"  # the after-release item's


def _pixels(shade: int) -> np.ndarray:
    """A 3 x 4 grey image of one shade: each artifact's own, so its PNG's sha256 tells it apart."""
    return np.full((3, 4), shade, dtype=np.uint8)


# name -> (the test drawing it, None in a fixture; its title; its item's visibility, None: no item)
ARTIFACTS = {
    "shape-grid": ("test_mix.py::test_shape", "Shapes your model produced", "visible"),
    "grid": ("test_mix.py::test_values", ARTIFACT_TITLE, "after_release"),
    "secret-grid": ("test_mix.py::test_hidden_zq1", "CANARY_NEVER_ART_hidden", "hidden"),
    "labels-grid": ("test_mix.py::test_labels", "CANARY_NEVER_ART_penalty", None),
    "noise-grid": (None, "CANARY_NEVER_ART_fixture", None),
}
ARTIFACT_PIXELS = {name: _pixels(40 * n + 20) for n, name in enumerate(ARTIFACTS)}
ARTIFACT_PNGS = {name: image_png(pixels) for name, pixels in ARTIFACT_PIXELS.items()}  # as the judge draws
ARTIFACT_SHA256 = {name: hashlib.sha256(data).hexdigest() for name, data in ARTIFACT_PNGS.items()}
ARTIFACT_ITEMS = {
    "shape-grid": "vis_shape",
    "grid": "later_values",
    "secret-grid": "hid_zq1",
    "labels-grid": None,
    "noise-grid": None,
}  # what the rubric maps each one's test to

NEVER = (
    "CANARY_STAGED",
    "CANARY_HIDDEN_MSG",
    "CANARY_HIDDEN_PEN_MSG",
    "CANARY_HIDDEN_COMMENT",
    "CANARY_INFRA",
    "CANARY_LOG",
    "test_hidden_",
    "CANARY_NEVER_ART",
    *(ARTIFACT_SHA256[name] for name, (_, _, seen) in ARTIFACTS.items() if seen in (None, "hidden")),
)
UNTIL_RELEASE = (
    "CANARY_HIDDEN_TITLE",
    "CANARY_HIDDEN_MANUAL_TITLE",
    "CANARY_HIDDEN_PENALTY_TITLE",
    "hid_zq1",
    "hid_manual_zq2",
    "pen_hid_zq3",
    "dark_hid_zq4",
    "CANARY_LATER_MSG",
    "CANARY_LATER_PEN_MSG",
    "CANARY_ESSAY_COMMENT",
    "CANARY_ART",
    *(ARTIFACT_SHA256[name] for name, (_, _, seen) in ARTIFACTS.items() if seen == "after_release"),
)
# Numbers with a fraction a student may read before release: the courseworks' weights.
INNOCENT_NUMBERS = (0.4, 0.6)
# Prometheus samples that are times, not marks (the oldest queued run's age, when a series began).
TIME_SAMPLES = re.compile(r"^\w+_(?:seconds|created)(?:\{[^}]*\})? .*$", re.MULTILINE)
# Item titles start with a section code (1a, 2b: never dotted here, so a code is never a number).
# Clock times (12:30:45.123456), taken out before numbers are looked for.
TIMES = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?")
# A free-standing number: not part of a word, a version (3.1.0) or an id. JSON's "score":8.91 counts.
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


def fractional_numbers(text: str) -> list[str]:
    """Every free-standing number in ``text`` that is not whole and not innocent."""
    found = []
    for token in NUMBER.findall(TIMES.sub(" ", TIME_SAMPLES.sub("", text))):
        value = float(token)
        if abs(value - round(value)) < 1e-6 or any(abs(value - n) < 1e-6 for n in INNOCENT_NUMBERS):
            continue
        found.append(token)
    return found


def leaks(text: str, *, released: bool) -> list[str]:
    """What in ``text`` a student must not read: canary strings, and before release any number
    a hidden or after-release value is part of."""
    problems = [f"canary {c!r}" for c in NEVER if c in text]
    if not released:
        problems += [f"canary {c!r} before release" for c in UNTIL_RELEASE if c in text]
        problems += [f"number {n} before release" for n in fractional_numbers(text)]
    return problems


def body_text(response) -> str:
    """Everything a response says: its headers and its body (bytes read as Latin-1: PNGs too)."""
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return headers + "\n\n" + response.content.decode("latin-1")


def payload_text(payload: dict) -> str:
    return json.dumps(payload, sort_keys=True)


def notebook(text: str) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(text))
    return nbformat.writes(nb).encode()


def queued_full_run(sessions, submission_id: str) -> int:
    with sessions() as session:
        return session.scalars(
            select(GradingRun.id).where(
                GradingRun.submission_id == uuid.UUID(submission_id),
                GradingRun.kind == RunKind.full,
                GradingRun.status == RunStatus.queued,
            )
        ).one()


def grade_staged(sessions, app, code: str, submission_id: str) -> int:
    """Complete the submission's staged run (a regrade preview's) as a worker does, with ``STAGED_RESULTS``."""
    rubric = app.state.courseworks[code].rubric
    with sessions() as session:
        run_id = session.scalars(
            select(GradingRun.id).where(
                GradingRun.submission_id == uuid.UUID(submission_id),
                GradingRun.staged.is_(True),
                GradingRun.status == RunStatus.queued,
            )
        ).one()
        lease = claim_run(session=session, run_id=run_id, worker_id="vis-worker")
        report = GradeReport(
            coursework=code,
            status="graded",
            max_score=rubric.total_points,
            auto_max_score=rubric.auto_max_score,
            duration_s=1.0,
            marks=auto_marks(rubric, STAGED_RESULTS),
        )
        assert complete_run(session=session, lease=lease, report=report, tests=STAGED_RESULTS) is RunStatus.graded
        return run_id


def draw_artifacts(folder: Path) -> list[dict]:
    """The judge's side: ``ARTIFACTS`` kept by its ``Artifacts``, each while its test runs (as the
    judge's plugin marks the test running), and the records its result lists."""
    kept = Artifacts(folder)
    for name, (test, title, _) in ARTIFACTS.items():
        kept.test = test
        kept.image(name, ARTIFACT_PIXELS[name], title=title)
        kept.test = None
    return kept.records()


def grade(sessions, app, code: str, submission_id: str, artifacts: bool) -> None:
    """Record a graded run as the worker does (``complete_run``), with a canary log and ``ARTIFACTS``."""
    rubric = app.state.courseworks[code].rubric
    with tempfile.TemporaryDirectory() as tmp:
        files, keys = [], {}
        if artifacts:
            judged = Path(tmp) / "job" / "artifacts"
            files = collect_artifacts(draw_artifacts(judged), judged, Path(tmp) / "kept", rubric)
            keys = store_artifacts(
                app.state.blobs,
                GradeReport(coursework=code, status="graded", max_score=0, auto_max_score=0, artifacts=files),
            )
        report = GradeReport(
            coursework=code,
            status="graded",
            max_score=rubric.total_points,
            auto_max_score=rubric.auto_max_score,
            duration_s=1.0,
            marks=auto_marks(rubric, RESULTS[code]),
            artifacts=files,
        )
        with sessions() as session:
            lease = claim_run(session=session, run_id=queued_full_run(sessions, submission_id), worker_id="vis-worker")
            assert (
                complete_run(
                    session=session, lease=lease, report=report, tests=RESULTS[code], log=RUN_LOG, artifact_keys=keys
                )
                is RunStatus.graded
            )
