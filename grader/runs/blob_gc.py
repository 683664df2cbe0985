"""The orphan collector: delete stored blobs that no gradebook row references (it knows which columns
hold blob keys, so it lives with the runs, not in the blob store).

Orphans are left when a blob was stored but its row never committed (the database went away in
between, or two uploads raced with one Idempotency-Key and different files). Deleting one at once
would be unsafe: the store is content-addressed, so another upload of the same bytes may have just
stored "its" blob and be about to commit a row pointing at it. Only blobs that nobody stored
within the grace period are deleted, and the store rechecks that atomically (``BlobStore.delete``).

The blobs are listed before the references are read: a row committed after the read points at a
blob stored (or stored again) within the grace period, which is therefore kept.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.blobs.base import BlobNotFound, BlobStore
from grader.runs.models import GradingRun, RunArtifact
from grader.submissions.models import Submission

DEFAULT_GRACE = dt.timedelta(days=1)
# Every column holding a blob key. A new kind of stored file adds its column here.
REFERENCES = (
    Submission.blob_key,
    GradingRun.executed_notebook_key,
    GradingRun.rendered_notebook_key,
    RunArtifact.blob_key,
)
BATCH = 500


@dataclass
class GcReport:
    removed: list[str] = field(default_factory=list)  # with dry_run: what would be removed
    young: int = 0  # unreferenced, but stored within the grace period: kept
    referenced: int = 0
    dry_run: bool = False


def collect_orphans(
    store: BlobStore,
    session: Session,
    older_than: dt.timedelta = DEFAULT_GRACE,
    *,
    dry_run: bool = False,
    now: float | None = None,
) -> GcReport:
    """Delete blobs that no submission or grading run references and that were last stored more
    than ``older_than`` ago. ``now`` is Unix time (the store's files carry the host's clock)."""
    if older_than < dt.timedelta(0):
        raise ValueError("the grace period cannot be negative")
    cutoff = (time.time() if now is None else now) - older_than.total_seconds()
    report = GcReport(dry_run=dry_run)
    old = []
    for key in store.keys():
        try:
            stored = store.modified_at(key)
        except BlobNotFound:  # removed meanwhile
            continue
        if stored < cutoff:
            old.append(key)
        else:
            report.young += 1
    used = referenced_keys(session, old)
    session.rollback()  # end the read transaction before the (slow) deletions
    for key in old:
        if key in used:
            report.referenced += 1
        elif dry_run or store.delete(key, unless_stored_since=cutoff):
            report.removed.append(key)
        else:
            report.young += 1  # stored again a moment ago
    return report


def referenced_keys(session: Session, keys: Iterable[str]) -> set[str]:
    """Those of ``keys`` that a gradebook row points at."""
    keys = list(keys)
    used: set[str] = set()
    for start in range(0, len(keys), BATCH):
        batch = keys[start : start + BATCH]
        for column in REFERENCES:
            used.update(session.scalars(select(column).where(column.in_(batch)).distinct()))
    return used
