"""A lecturer's regrade preview: runs of a coursework's counting submissions on the current hidden
suite, staged (``GradingRun.staged``) until the lecturer applies the preview or discards it."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from grader.courseworks.models import Coursework  # noqa: F401  (referenced tables first)
from grader.db.base import Base
from grader.db.types import UTCDateTime, str_enum
from grader.users.models import User  # noqa: F401


class PreviewStatus(str, enum.Enum):
    pending = "pending"  # its runs are staged: nobody but the lecturer sees their results
    applied = "applied"  # its finished runs became the current ones
    discarded = "discarded"  # its runs stay staged for good (history only)


_PENDING = "status = 'pending'"


class RegradePreview(Base):
    __tablename__ = "regrade_previews"
    __table_args__ = (
        # One pending preview per coursework, even for two lecturers starting one at the same moment.
        Index(
            "uq_regrade_previews_pending_coursework",
            "coursework_id",
            unique=True,
            postgresql_where=text(_PENDING),
            sqlite_where=text(_PENDING),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"), index=True)
    status: Mapped[PreviewStatus] = mapped_column(
        str_enum(PreviewStatus, "preview_status"), default=PreviewStatus.pending
    )
    # The suite and rubric on disk when the preview was asked for: apply checks both still stand.
    hidden_digest: Mapped[str] = mapped_column(String(64))
    rubric_digest: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # who applied or discarded it
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
