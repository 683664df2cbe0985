"""The roster: every enrolled student, whether or not they ever submit or log in."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base
from grader.db.types import UTCDateTime, utcnow
from grader.users.models import User  # noqa: F401  (the users table must be known first)


class Student(Base):
    """A student as the course system knows them. Submissions and marks hang off this row.

    Kept apart from ``users``: the roster is imported before anyone logs in (exports list
    non-submitters), and a service token submits for a student by ``external_id`` alone.
    """

    __tablename__ = "students"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)  # the course system's id
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    # The student's own login, once they have one.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    enrolled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
