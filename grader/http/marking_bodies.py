"""What a marker sends to the marker's desk (``grader.marking.desk``): a mark, a penalty decision,
the lecturer's counting pick. The JSON API and the dashboard validate bodies with the same models,
so a score or comment refused by one is refused by the other."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from grader.http.text import REFUSE_NUL, StoredText, stored_field

# Strict: "3" or true is a wrong type (422), not a score; NaN and infinities are refused.
Score = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
Comment = Annotated[str, stored_field(max_length=5000), REFUSE_NUL]
Version = Annotated[int, Field(strict=True, ge=1)]


class MarkWrite(BaseModel):
    score: Score | None  # null clears the mark
    comment: Comment = ""
    expected_version: Version | None  # the version read; null for a first mark


class PenaltyWrite(BaseModel):
    applied: Annotated[bool, Field(strict=True)]
    comment: Comment = ""
    expected_version: Annotated[int, Field(strict=True, ge=0)] | None  # the penalty's version read; null: none yet


class CountingWrite(BaseModel):
    reason: StoredText = Field(min_length=1, max_length=2000)
