"""Column types shared by the models."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, DateTime, Enum
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

UTC = dt.UTC

# JSON everywhere; JSONB on Postgres (indexable, compact).
JSONValue = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An instant, always timezone-aware UTC in Python.

    Postgres stores ``timestamptz``. SQLite has no time zones, so the value is stored as naive UTC
    text (which sorts and compares correctly) and UTC is attached again on the way out. Naive
    datetimes are refused: one would silently take the server's zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(cls: type[enum.Enum], name: str) -> Enum:
    """A string column limited to an enum's values by a CHECK constraint.

    Not a native Postgres ENUM: the same migration must run on SQLite, and adding a value to a
    CHECK constraint is simpler than altering a Postgres type.
    """
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def utcnow() -> dt.datetime:
    """Python-side default for creation stamps (services pass the database's clock where it matters)."""
    return dt.datetime.now(UTC)
