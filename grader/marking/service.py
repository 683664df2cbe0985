"""Markers' marks: set one (optimistically locked, with history) and read them back.

Mutating functions commit before they return.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from grader.audit.service import record_event
from grader.db.clock import db_now
from grader.marking.models import ManualMark, MarkChange, MarkKind


class StaleMark(Exception):
    """Someone changed the mark since this marker read it: reload, then decide again."""


def set_mark(
    *,
    session: Session,
    student_id: int,
    coursework_id: int,
    item_id: str,
    score: float | None,
    by_user_id: int,
    expected_version: int | None,
    submission_id: uuid.UUID | None = None,
    kind: MarkKind = MarkKind.manual,
    comment: str = "",
    now: dt.datetime | None = None,
) -> ManualMark:
    """Set (or clear, with ``score=None``) a marker's mark for one item, keeping its history.

    ``expected_version`` is the version the marker saw: None for a mark not yet given. Any other
    version, or a concurrent writer, raises ``StaleMark`` and nothing is written. The mark is for
    ``submission_id`` when given, else for the student and coursework as a whole.
    """
    now = now or db_now(session)
    mark = _find(session, student_id, coursework_id, item_id, submission_id)
    current = mark.version if mark is not None else None
    if current != expected_version:
        raise StaleMark(f"mark {item_id!r} is at version {current}, not {expected_version}")
    old_score = mark.score if mark is not None else None
    try:
        with session.begin_nested():
            if mark is None:
                mark = ManualMark(student_id=student_id, coursework_id=coursework_id, submission_id=submission_id,
                                  item_id=item_id)
                session.add(mark)
            mark.kind, mark.score, mark.comment = kind, score, comment
            mark.updated_by_id, mark.updated_at = by_user_id, now
            session.flush()  # the UPDATE names the version read: a concurrent write matches no row
            session.add(MarkChange(mark_id=mark.id, version=mark.version, changed_by_id=by_user_id,
                                   changed_at=now, old_score=old_score, new_score=score, comment=comment))
            record_event(session=session, actor_id=by_user_id, action="mark.set", subject_type="manual_mark",
                         subject_id=mark.id, at=now,
                         details={"item_id": item_id, "old": old_score, "new": score, "version": mark.version})
    except (StaleDataError, IntegrityError) as exc:
        # StaleDataError: updated meanwhile. IntegrityError: another marker created it first.
        raise StaleMark(f"mark {item_id!r} changed while it was being saved") from exc
    session.commit()
    return mark


def mark_history(*, session: Session, mark_id: int) -> list[MarkChange]:
    """Every change to a mark, oldest first."""
    return list(session.scalars(select(MarkChange).where(MarkChange.mark_id == mark_id)
                                .order_by(MarkChange.version)))


def marks_for_submission(*, session: Session, submission_id: uuid.UUID, student_id: int,
                         coursework_id: int) -> dict[str, ManualMark]:
    """The marks in force for a submission, by item id: its own, else the student's for the coursework.

    Read beside the run's automatic scores (``runs.service.latest_graded_run``): a mark with a
    score replaces the auto score; one without (cleared) leaves the auto score standing.
    """
    rows = session.scalars(
        select(ManualMark).where(
            ManualMark.student_id == student_id, ManualMark.coursework_id == coursework_id,
            (ManualMark.submission_id == submission_id) | ManualMark.submission_id.is_(None),
        )
    )
    marks: dict[str, ManualMark] = {}
    for mark in sorted(rows, key=lambda m: m.submission_id is not None):  # the submission's own win
        marks[mark.item_id] = mark
    return marks


def _find(session: Session, student_id: int, coursework_id: int, item_id: str,
          submission_id: uuid.UUID | None) -> ManualMark | None:
    query = select(ManualMark).where(ManualMark.student_id == student_id,
                                     ManualMark.coursework_id == coursework_id, ManualMark.item_id == item_id)
    query = query.where(ManualMark.submission_id.is_(None) if submission_id is None
                        else ManualMark.submission_id == submission_id)
    # populate_existing: compare against the version in the database, not one cached earlier.
    return session.scalars(query.execution_options(populate_existing=True)).first()
