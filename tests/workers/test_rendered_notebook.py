"""A real ``grader worker`` renders the notebook as the student submitted it (their own outputs,
not the graded re-execution) once, sanitised, into the blob store, and records it with the run."""

from __future__ import annotations

import hashlib

import nbformat
import pytest
from crafted_zips import zipped  # tests/, on the path through worker_kit
from worker_kit import World, notebook

from grader.notebooks.render import RENDER_CSP

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def submitted_with_outputs() -> bytes:
    cells = [
        nbformat.v4.new_markdown_cell("## Part 1\nMy answer <img src=x onerror=alert(1)>"),
        nbformat.v4.new_code_cell("def add_one(x):\n    return x + 1", execution_count=1),
        # Only the student's own run printed this (definitions mode never runs the call again).
        nbformat.v4.new_code_cell(
            "print(train())",
            execution_count=2,
            outputs=[
                nbformat.v4.new_output("stream", name="stdout", text="trained at home: loss 0.0123\n"),
                nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
                nbformat.v4.new_output("display_data", data={"text/html": "<script>window.pwned=1</script><b>ok</b>"}),
            ],
        ),
    ]
    return nbformat.writes(nbformat.v4.new_notebook(cells=cells)).encode()


def test_the_submitted_notebook_is_rendered_once_and_kept_with_the_run(world: World):
    world.start_worker()
    run_id = world.submit(submitted_with_outputs())
    world.wake(run_id)
    world.wait_status(run_id, ("graded", "error"), 180)
    run = world.assert_graded_once(run_id)

    assert run.rendered_notebook_key, world.worker_logs()
    with world.api_blobs.open(run.rendered_notebook_key) as f:
        page = f.read()
    assert hashlib.sha256(page).hexdigest() == run.rendered_notebook_key
    text = page.decode()
    assert "trained at home: loss 0.0123" in text and f"data:image/png;base64,{PNG}" in text
    assert "<b>ok</b>" in text and "My answer" in text
    assert "<script" not in text and "onerror" not in text and "pwned" not in text
    assert RENDER_CSP in text
    assert run.rendered_notebook_key != run.executed_notebook_key


def test_a_decoy_zipped_before_the_notebook_is_neither_graded_nor_rendered(world: World):
    """A zip with a decoy (wrong answer, its own text) in .ipynb_checkpoints/ before the real notebook:
    a real worker grades the real one (full marks) and renders that one for markers."""
    decoy = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("DECOY for the marker"),
            nbformat.v4.new_code_cell("def add_one(x):\n    return x - 1"),
        ]
    )
    real = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("REAL answer"),
            *nbformat.reads(notebook("return x + 1").decode(), 4).cells,
        ]
    )
    data = zipped(
        [
            (".ipynb_checkpoints/mini.ipynb", nbformat.writes(decoy).encode()),
            ("mini.ipynb", nbformat.writes(real).encode()),
        ]
    )
    world.start_worker()
    run_id = world.submit(data)
    world.wake(run_id)
    world.wait_status(run_id, ("graded", "error"), 180)
    run = world.assert_graded_once(run_id)  # 2 of 3: the real add_one (the decoy's would score 0)
    with world.api_blobs.open(run.rendered_notebook_key) as f:
        text = f.read().decode()
    assert "REAL answer" in text and "DECOY" not in text
