"""Text a client sends that the gradebook stores: any characters but NUL, which PostgreSQL's
``text`` cannot hold (it would fail the whole request instead of naming the field)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

NO_NUL = r"^[^\x00]*$"


def _storable(value: object) -> object:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain the NUL character (\\u0000)")
    return value


def stored_text(**constraints: Any) -> Any:
    """A string type with these ``Field`` constraints (min_length, max_length) that refuses NUL.
    The pattern documents the rule in the OpenAPI document; the validator says it in words. The
    constraints come first, so their own messages ("at most 200 characters") are kept."""
    return Annotated[str, Field(**constraints, json_schema_extra={"pattern": NO_NUL}), BeforeValidator(_storable)]


StoredText = stored_text()
