"""A graded run with artifacts, built in code as a worker would record it (blobs first, then rows)."""

from __future__ import annotations

import hashlib
import io
import uuid

import numpy as np
from api_kit import TESTS
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from grader.blobs import BlobStore
from grader.grading.report import ArtifactFile, GradeReport
from grader.rubrics.model import Rubric
from grader.runs.models import GradingRun, RunKind, RunStatus
from grader.runs.service import claim_run, complete_run
from grader.scoring.auto import auto_marks


def png(value: int, shape: tuple[int, int] = (2, 3)) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full(shape, value, dtype=np.uint8), mode="L").save(out, format="PNG")
    return out.getvalue()


def grade_with_artifacts(
    sessions: sessionmaker[Session],
    blobs: BlobStore,
    rubric: Rubric,
    submission_id: str,
    pngs: dict[str, bytes],
    tests: dict = TESTS,
    items: dict[str, str] | None = None,
) -> int:
    """Complete the submission's queued full run with these PNGs as its artifacts; returns the run id.
    ``items``: the item each one belongs to, by name (not named: no item, staff only)."""
    artifacts, keys = [], {}
    for name, data in pngs.items():
        keys[name] = blobs.put(io.BytesIO(data)).sha256
        artifacts.append(
            ArtifactFile(
                name=name,
                title=f"{name} title",
                media_type="image/png",
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                item_id=(items or {}).get(name),
            )
        )
    with sessions() as session:
        run_id = session.scalars(
            select(GradingRun.id).where(
                GradingRun.submission_id == uuid.UUID(submission_id),
                GradingRun.kind == RunKind.full,
                GradingRun.status == RunStatus.queued,
            )
        ).one()
        lease = claim_run(session=session, run_id=run_id, worker_id="test-worker")
        report = GradeReport(
            coursework=rubric.coursework,
            status="graded",
            max_score=rubric.total_points,
            auto_max_score=rubric.auto_max_score,
            duration_s=1.0,
            marks=auto_marks(rubric, tests),
            artifacts=artifacts,
        )
        assert (
            complete_run(session=session, lease=lease, report=report, tests=tests, artifact_keys=keys)
            is RunStatus.graded
        )
        return run_id
