"""Markers' marks and penalty decisions: set one (optimistically locked, with history) and read
them back.

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
from grader.marking.models import ManualMark, MarkChange, MarkKind, PenaltyDecision
from grader.submissions.models import Submission
from grader.webhooks.course_events import emit_mark_changed


class StaleMark(Exception):
    """Someone changed the mark since this marker read it: reload, then decide again."""


class StaleDecision(Exception):
    """Someone decided the penalty since this marker read it: reload, then decide again."""


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
    public_url: str | None = None,
) -> ManualMark:
    """Set (or clear, with ``score=None``) a marker's mark for one item, keeping its history.

    ``expected_version`` is the version the marker saw: None for a mark not yet given. Any other
    version, or a concurrent writer, raises ``StaleMark`` and nothing is written. The mark is for
    ``submission_id`` when given, else for the student and coursework as a whole. Once the marks
    are released to the student, a ``mark.changed_after_release`` event goes with the change
    (``public_url``: where its links point).
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
                mark = ManualMark(
                    student_id=student_id, coursework_id=coursework_id, submission_id=submission_id, item_id=item_id
                )
                session.add(mark)
            mark.kind, mark.score, mark.comment = kind, score, comment
            mark.updated_by_id, mark.updated_at = by_user_id, now
            session.flush()  # the UPDATE names the version read: a concurrent write matches no row
            session.add(
                MarkChange(
                    mark_id=mark.id,
                    version=mark.version,
                    changed_by_id=by_user_id,
                    changed_at=now,
                    old_score=old_score,
                    new_score=score,
                    comment=comment,
                )
            )
            record_event(
                session=session,
                actor_id=by_user_id,
                action="mark.set",
                subject_type="manual_mark",
                subject_id=mark.id,
                at=now,
                details={"item_id": item_id, "old": old_score, "new": score, "version": mark.version},
            )
            emit_mark_changed(
                session=session,
                coursework_id=coursework_id,
                student_id=student_id,
                submission_id=submission_id,
                change={"item_id": item_id, "kind": MarkKind(kind).value, "old_score": old_score, "new_score": score},
                now=now,
                public_url=public_url,
            )
    except (StaleDataError, IntegrityError) as exc:
        # StaleDataError: updated meanwhile. IntegrityError: another marker created it first.
        raise StaleMark(f"mark {item_id!r} changed while it was being saved") from exc
    session.commit()
    return mark


def mark_history(*, session: Session, mark_id: int) -> list[MarkChange]:
    """Every change to a mark, oldest first."""
    return list(session.scalars(select(MarkChange).where(MarkChange.mark_id == mark_id).order_by(MarkChange.version)))


def marks_for_submission(
    *, session: Session, submission_id: uuid.UUID, student_id: int, coursework_id: int
) -> dict[str, ManualMark]:
    """The marks in force for a submission, by item id: its own, else the student's for the coursework.

    Read beside the run's automatic scores (``runs.service.latest_graded_run``): a mark with a
    score replaces the auto score; one without (cleared) leaves the auto score standing.
    """
    rows = session.scalars(
        select(ManualMark).where(
            ManualMark.student_id == student_id,
            ManualMark.coursework_id == coursework_id,
            (ManualMark.submission_id == submission_id) | ManualMark.submission_id.is_(None),
        )
    )
    marks: dict[str, ManualMark] = {}
    for mark in sorted(rows, key=lambda m: m.submission_id is not None):  # the submission's own win
        marks[mark.item_id] = mark
    return marks


def mark_in_force(*, session: Session, submission: Submission, item_id: str) -> ManualMark | None:
    """The mark that counts for one item of a submission: its own, else the student's for the
    coursework as a whole (as ``marks_for_submission`` reads them), fresh from the database."""
    own = _find(session, submission.student_id, submission.coursework_id, item_id, submission.id)
    return own if own is not None else _find(session, submission.student_id, submission.coursework_id, item_id, None)


def penalty_decisions(
    *, session: Session, submission: Submission, penalty_id: str | None = None
) -> list[PenaltyDecision]:
    """Every decision bearing on a submission (its own and the student's coursework-wide ones),
    oldest first: the history a marker sees. Its length is the version a new decision must name."""
    query = select(PenaltyDecision).where(
        PenaltyDecision.student_id == submission.student_id,
        PenaltyDecision.coursework_id == submission.coursework_id,
        (PenaltyDecision.submission_id == submission.id) | PenaltyDecision.submission_id.is_(None),
    )
    if penalty_id is not None:
        query = query.where(PenaltyDecision.penalty_id == penalty_id)
    return list(session.scalars(query.order_by(PenaltyDecision.id).execution_options(populate_existing=True)))


def decisions_in_force(decisions: list[PenaltyDecision]) -> dict[str, PenaltyDecision]:
    """Penalty id -> the decision in force: the submission's latest, else the coursework-wide latest.
    ``decisions`` oldest first, as ``penalty_decisions`` returns them."""
    in_force: dict[str, PenaltyDecision] = {}
    for d in sorted(decisions, key=lambda d: d.submission_id is not None):  # stable: latest last
        in_force[d.penalty_id] = d
    return in_force


def decide_penalty(
    *,
    session: Session,
    submission: Submission,
    penalty_id: str,
    applied: bool,
    by_user_id: int,
    expected_version: int | None,
    comment: str = "",
    now: dt.datetime | None = None,
    public_url: str | None = None,
) -> PenaltyDecision:
    """Apply or waive a penalty for this submission (append-only), or raise ``StaleDecision``.

    ``expected_version`` is the number of decisions the marker saw (None or 0: none yet).
    """
    # Decisions on one submission are serialised on its row, so two markers cannot both pass the check.
    session.execute(select(Submission.id).where(Submission.id == submission.id).with_for_update())
    now = now or db_now(session)
    history = penalty_decisions(session=session, submission=submission, penalty_id=penalty_id)
    if len(history) != (expected_version or 0):
        session.rollback()  # release the row lock
        raise StaleDecision(f"penalty {penalty_id!r} is at version {len(history) or None}, not {expected_version}")
    decision = PenaltyDecision(
        student_id=submission.student_id,
        coursework_id=submission.coursework_id,
        submission_id=submission.id,
        penalty_id=penalty_id,
        applied=applied,
        comment=comment,
        decided_by_id=by_user_id,
        decided_at=now,
    )
    previous = decisions_in_force(history).get(penalty_id)
    session.add(decision)
    session.flush()
    record_event(
        session=session,
        actor_id=by_user_id,
        action="penalty.decide",
        subject_type="penalty_decision",
        subject_id=decision.id,
        at=now,
        details={
            "penalty_id": penalty_id,
            "submission_id": str(submission.id),
            "applied": applied,
            "previous": previous.applied if previous else None,
            "version": len(history) + 1,
        },
    )
    emit_mark_changed(
        session=session,
        coursework_id=submission.coursework_id,
        student_id=submission.student_id,
        submission_id=submission.id,
        change={
            "penalty_id": penalty_id,
            "kind": "penalty",
            "applied": applied,
            "previous_applied": previous.applied if previous else None,
        },
        now=now,
        public_url=public_url,
    )
    session.commit()
    return decision


def _find(
    session: Session, student_id: int, coursework_id: int, item_id: str, submission_id: uuid.UUID | None
) -> ManualMark | None:
    query = select(ManualMark).where(
        ManualMark.student_id == student_id, ManualMark.coursework_id == coursework_id, ManualMark.item_id == item_id
    )
    query = query.where(
        ManualMark.submission_id.is_(None) if submission_id is None else ManualMark.submission_id == submission_id
    )
    # populate_existing: compare against the version in the database, not one cached earlier.
    return session.scalars(query.execution_options(populate_existing=True)).first()
