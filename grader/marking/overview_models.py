"""The overview's change log: which student's row of which coursework a committed transaction touched.

Written only by Postgres triggers (migration 0014) on every table an overview row is read from, so
no write path (the desk, a worker finishing a run, the CLI, a lecturer's roster edit) can forget
it. ``changed_xid`` is the writing transaction's id: a reader that took ``pg_snapshot_xmin`` as its
cursor finds every change it may not have seen as ``changed_xid >= cursor``. A NULL
``student_id`` means every row of the coursework (its deadline, its anonymity switch); a NULL
``coursework_id`` means that student in every coursework (the roster). SQLite has no triggers
here: there the log stays empty and readers read everything.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base


class OverviewChange(Base):
    __tablename__ = "overview_changes"
    __table_args__ = (Index("ix_overview_changes_changed_xid", "changed_xid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    coursework_id: Mapped[int | None] = mapped_column(Integer)
    student_id: Mapped[int | None] = mapped_column(Integer)
    changed_xid: Mapped[int] = mapped_column(BigInteger)
