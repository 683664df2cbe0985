"""Stored pseudonyms for anonymous marking: "Candidate 041307".

Each (coursework, student) gets a label drawn with ``secrets`` the first time anyone needs it, kept
in ``candidate_pseudonyms`` and never changed: the same script keeps its label on every page, for
every marker, across restarts and key changes, for the whole marking. Nothing about the student
goes into the draw, so a label cannot be computed back from the roster; only the table links
them. Labels are unique per coursework (a unique constraint; a clash is drawn again) and differ
between courseworks, so a GTA cannot link one student's courseworks.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.db.clock import db_now
from grader.marking.scale_models import CandidatePseudonym

DIGITS = 6
PREFIX = "Candidate "
MAX_DRAWS = 50  # a clash is rare (a cohort is far smaller than 10**6): give up only on a broken table


def draw_label() -> str:
    return f"{PREFIX}{secrets.randbelow(10**DIGITS):0{DIGITS}d}"


def stored_pseudonyms(*, session: Session, coursework_id: int) -> dict[int, str]:
    """Student id -> label, for the students who already have one on this coursework."""
    return dict(
        session.execute(
            select(CandidatePseudonym.student_id, CandidatePseudonym.label).where(
                CandidatePseudonym.coursework_id == coursework_id
            )
        ).all()
    )


def pseudonyms(*, session: Session, coursework_id: int, student_ids: Iterable[int]) -> dict[int, str]:
    """Every named student's label on the coursework, drawing (and committing) the missing ones."""
    wanted = set(student_ids)
    known = stored_pseudonyms(session=session, coursework_id=coursework_id)
    missing = sorted(wanted - known.keys())
    if missing:
        _draw(session, coursework_id, missing, taken=set(known.values()))
        known = stored_pseudonyms(session=session, coursework_id=coursework_id)
    return {sid: known[sid] for sid in wanted}


def _draw(session: Session, coursework_id: int, student_ids: list[int], taken: set[str]) -> None:
    now = db_now(session)
    for student_id in student_ids:
        for _ in range(MAX_DRAWS):
            label = draw_label()
            if label in taken:
                continue
            try:
                # A savepoint each: another request drawing for the same student (or the same label)
                # at the same moment loses only this row, and the one stored wins.
                with session.begin_nested():
                    session.add(
                        CandidatePseudonym(
                            coursework_id=coursework_id, student_id=student_id, label=label, created_at=now
                        )
                    )
            except IntegrityError:
                if student_id in stored_pseudonyms(session=session, coursework_id=coursework_id):
                    break
                continue
            taken.add(label)
            break
        else:
            raise RuntimeError(f"no free pseudonym after {MAX_DRAWS} draws for coursework {coursework_id}")
    session.commit()
