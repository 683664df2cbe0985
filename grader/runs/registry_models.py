"""The worker registry's rows: each live ``grader worker`` says who it is and which queues it serves."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base
from grader.db.types import JSONValue, UTCDateTime


class WorkerRegistration(Base):
    """One worker process, as it last announced itself. A row not seen for ``LIVE_FOR_S`` is not live
    (``grader.runs.registry``); a worker that stops cleanly deletes its own."""

    __tablename__ = "worker_registrations"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # unique per process: host, pid, random
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    queues: Mapped[list[str]] = mapped_column(JSONValue)  # the broker queues it consumes: precheck, cpu, gpu
    concurrency: Mapped[int] = mapped_column(Integer)  # jobs it grades at once
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
