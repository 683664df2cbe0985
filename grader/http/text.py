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


def stored_field(**constraints: Any) -> Any:
    """The ``Field`` of a stored string, with these constraints (min_length, max_length). The
    pattern documents the NUL rule in the OpenAPI document; ``REFUSE_NUL`` says it in words. Use
    both in ``Annotated[str, stored_field(...), REFUSE_NUL]``: the constraints come first, so their
    own messages ("at most 200 characters") are kept. Spelled out at each use (not built by a
    function) so that type checkers see the alias as ``str``."""
    return Field(**constraints, json_schema_extra={"pattern": NO_NUL})


REFUSE_NUL = BeforeValidator(_storable)

StoredText = Annotated[str, stored_field(), REFUSE_NUL]
