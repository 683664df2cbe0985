"""The worker registry: workers announce themselves (host, pid, queues, concurrency) and beat a
heartbeat; a worker not seen for ``live_for_s`` is not live.

It tells a queue's capacity (the slots of its live workers: ``grader.runs.eta``) and a queue that
holds work no worker will ever take (a GPU queue with no GPU worker). Each function commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from grader.db.clock import db_now
from grader.db.dml import rowcount
from grader.runs.registry_models import WorkerRegistration

BEAT_EVERY_S = 10.0  # a worker's heartbeat
LIVE_FOR_S = 3 * BEAT_EVERY_S  # three missed beats: gone (killed, host down, network cut)
FORGET_AFTER_S = 24 * 3600  # rows of vanished workers are deleted after a day (kept that long for a look)


@dataclass(frozen=True)
class LiveWorker:
    name: str
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    last_seen_at: dt.datetime


def announce(
    *,
    session: Session,
    name: str,
    host: str,
    pid: int,
    queues: Collection[str],
    concurrency: int,
    now: dt.datetime | None = None,
) -> None:
    """Register a worker, or refresh it (its heartbeat). Safe to repeat."""
    now = now or db_now(session)
    seen = session.execute(
        update(WorkerRegistration)
        .where(WorkerRegistration.name == name)
        .values(last_seen_at=now, queues=sorted(queues), concurrency=concurrency)
        .execution_options(synchronize_session=False)
    )
    if rowcount(seen) == 0:
        session.add(
            WorkerRegistration(
                name=name,
                host=host,
                pid=pid,
                queues=sorted(queues),
                concurrency=concurrency,
                started_at=now,
                last_seen_at=now,
            )
        )
    session.commit()


def withdraw(*, session: Session, name: str) -> None:
    """A worker stopping cleanly takes its row away: it is not live from this moment."""
    session.execute(delete(WorkerRegistration).where(WorkerRegistration.name == name))
    session.commit()


def forget_vanished(*, session: Session, now: dt.datetime | None = None) -> int:
    """Delete rows not seen for ``FORGET_AFTER_S`` (the sweeper's housekeeping). Returns how many."""
    cutoff = (now or db_now(session)) - dt.timedelta(seconds=FORGET_AFTER_S)
    gone = session.execute(delete(WorkerRegistration).where(WorkerRegistration.last_seen_at < cutoff))
    session.commit()
    return rowcount(gone)


def live_workers(
    *, session: Session, live_for_s: float = LIVE_FOR_S, now: dt.datetime | None = None
) -> list[LiveWorker]:
    """Workers seen within ``live_for_s``, by name."""
    cutoff = (now or db_now(session)) - dt.timedelta(seconds=live_for_s)
    rows = session.scalars(
        select(WorkerRegistration).where(WorkerRegistration.last_seen_at >= cutoff).order_by(WorkerRegistration.name)
    ).all()
    return [LiveWorker(r.name, r.host, r.pid, tuple(r.queues or ()), r.concurrency, r.last_seen_at) for r in rows]


def slots_by_queue(workers: Collection[LiveWorker]) -> dict[str, int]:
    """How many jobs each queue's live workers grade at once (a worker on two queues counts on both)."""
    slots: dict[str, int] = {}
    for w in workers:
        for q in w.queues:
            slots[q] = slots.get(q, 0) + max(0, w.concurrency)
    return slots
