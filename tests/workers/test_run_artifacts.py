"""A graded run's artifacts (PNGs its hidden tests drew) land in the blob store and in run_artifacts,
written by a real ``grader worker`` with the run's result, and counted once."""

from __future__ import annotations

import hashlib
import io
import textwrap

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from worker_kit import World, notebook

from grader.runs.models import RunArtifact

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

HIDDEN = textwrap.dedent("""\
    import numpy as np


    def test_add(student, run_seed, artifacts):
        x = run_seed % 1000
        y = student.run("y = add_one(x)", inputs={"x": x}, outputs=["y"])["y"]
        artifacts.image("half", np.full((2, 3), 0.5), title="Half grey")
        artifacts.grid("pair", np.stack([np.zeros((1, 2, 2)), np.ones((1, 2, 2))]), nrow=2, title="A pair")
        assert y == x + 1, "wrong sum"
    """)


def test_a_graded_runs_artifacts_are_stored_with_it(world: World):
    (world.rubrics_dir / "mini" / "hidden" / "test_mini.py").write_text(HIDDEN)
    world.start_worker()
    run_id = world.submit(notebook("return x + 1"))
    world.wake(run_id)
    world.wait_status(run_id, ("graded", "error"), 180)
    world.assert_graded_once(run_id)

    with world.sessions() as s:
        rows = s.scalars(select(RunArtifact).where(RunArtifact.run_id == run_id).order_by(RunArtifact.position)).all()
        s.expunge_all()
    # Each attached to the item its drawing test scores: its visibility decides what a student sees.
    assert [(r.name, r.title, r.media_type, r.item_id) for r in rows] == [
        ("half", "Half grey", "image/png", "add"),
        ("pair", "A pair", "image/png", "add"),
    ]
    for row in rows:
        with world.api_blobs.open(row.blob_key) as f:  # the worker's store is the API's (one folder)
            data = f.read()
        assert row.sha256 == row.blob_key == hashlib.sha256(data).hexdigest() and row.size_bytes == len(data)
    with world.api_blobs.open(rows[0].blob_key) as f:
        assert np.asarray(Image.open(io.BytesIO(f.read()))).tolist() == [[128] * 3] * 2
