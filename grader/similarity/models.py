"""The archive of earlier years: notebooks a coursework's submissions are compared with.

Only the code cells are kept (the comparison reads nothing else): a notebook's bytes are never
stored here, so an archived student's markdown and outputs do not travel into a new year."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grader.courseworks.models import Coursework  # noqa: F401  (referenced tables first)
from grader.db.base import Base
from grader.db.types import JSONValue, UTCDateTime


class ArchivedNotebook(Base):
    __tablename__ = "similarity_archive"
    # Importing the same folder twice adds nothing.
    __table_args__ = (UniqueConstraint("coursework_id", "year", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    coursework_id: Mapped[int] = mapped_column(ForeignKey("courseworks.id"), index=True)
    year: Mapped[int]
    label: Mapped[str] = mapped_column(String(255))  # the file's path under the imported folder
    sha256: Mapped[str] = mapped_column(String(64))  # of the notebook file as imported
    cells: Mapped[list[str]] = mapped_column(JSONValue)  # its code cells' sources, in notebook order
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
