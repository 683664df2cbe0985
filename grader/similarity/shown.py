"""How a reader is shown the notebooks of a similarity report: this year's by student, named as
anonymous marking decides (``grader.marking.anonymity``: lecturers see names with the pseudonym
alongside; a reader shown pseudonyms would get the pseudonym only), earlier years' by year and file."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from grader.marking.anonymity import IdentityView, ShownStudent
from grader.similarity.service import Entry


@dataclass(frozen=True)
class ShownNotebook:
    key: str
    kind: str  # "submission" (this year's, the one that counts) or "archive"
    label: str  # what the reader calls it
    student: ShownStudent | None = None
    submission_id: uuid.UUID | None = None
    received_at: dt.datetime | None = None
    year: int | None = None


def shown_notebooks(entries: Iterable[Entry], view: IdentityView) -> dict[str, ShownNotebook]:
    entries = list(entries)
    view.load(e.submission.student_id for e in entries if e.submission is not None)
    out = {}
    for e in entries:
        if e.submission is not None:
            student = view.student(e.submission.student_id)
            out[e.key] = ShownNotebook(
                e.key, "submission", student.name, student, e.submission.id, e.submission.received_at
            )
        else:
            assert e.archived is not None
            out[e.key] = ShownNotebook(e.key, "archive", f"{e.archived.year}: {e.archived.label}", year=e.archived.year)
    return out
