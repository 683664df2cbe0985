"""Moderation: the lecturer draws a sample of marked work (stratified over mark bands and markers,
reproducible with its seed), reads each marker's marks, and records per sampled submission whether
the marks were agreed or adjusted. Mutating functions commit (with their audit event)."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.db.clock import db_now
from grader.marking.allocations import allocations
from grader.marking.models import ManualMark
from grader.marking.sampling import Candidate, band, sample_size, stratified_sample
from grader.marking.scale_models import ModerationOutcome, ModerationPick, ModerationSample


@dataclass(frozen=True)
class Marked:
    """A student's counting submission and its total, as the overview computes them."""

    student_id: int
    submission_id: uuid.UUID
    total: float | None
    max_score: float


def markers_of(*, session: Session, coursework_id: int, work: list[Marked]) -> dict[int, int | None]:
    """Student -> the marker who answers for their work: the allocated one, else whoever set most
    of the marks in force, else None."""
    allocated = allocations(session=session, coursework_id=coursework_id)
    by_whom: dict[int, Counter] = defaultdict(Counter)
    subs = {w.student_id: w.submission_id for w in work}
    for student_id, sub_id, user_id in session.execute(
        select(ManualMark.student_id, ManualMark.submission_id, ManualMark.updated_by_id).where(
            ManualMark.coursework_id == coursework_id, ManualMark.score.is_not(None)
        )
    ):
        if sub_id is None or subs.get(student_id) == sub_id:
            by_whom[student_id][user_id] += 1
    return {
        w.student_id: allocated.get(w.student_id)
        or (by_whom[w.student_id].most_common(1)[0][0] if by_whom[w.student_id] else None)
        for w in work
    }


def draw_sample(
    *,
    session: Session,
    coursework_id: int,
    work: list[Marked],
    percent: float,
    minimum: int,
    seed: int,
    by_user_id: int,
) -> ModerationSample:
    """A new sample of the graded work (the latest sample is the one shown; older ones stay)."""
    if not 0 < percent <= 100 or minimum < 0:
        raise ValueError("the share is more than 0 and at most 100 %, the minimum 0 or more.")
    graded = [w for w in work if w.total is not None]
    marker = markers_of(session=session, coursework_id=coursework_id, work=graded)
    candidates = [Candidate(w.student_id, band(w.total, w.max_score), marker[w.student_id]) for w in graded]
    picked = stratified_sample(candidates, sample_size(len(candidates), percent, minimum), seed)
    now = db_now(session)
    sample = ModerationSample(
        coursework_id=coursework_id, seed=seed, percent=percent, minimum=minimum, drawn_by_id=by_user_id, drawn_at=now
    )
    session.add(sample)
    session.flush()
    by_student = {w.student_id: w for w in graded}
    session.add_all(
        ModerationPick(
            sample_id=sample.id,
            student_id=c.key,
            submission_id=by_student[c.key].submission_id,
            band=c.band,
            marker_id=c.marker,
            total_at_draw=by_student[c.key].total,
            note="",
        )
        for c in picked
    )
    record_event(
        session=session,
        actor_id=by_user_id,
        action="moderation.sample",
        subject_type="moderation_sample",
        subject_id=sample.id,
        at=now,
        details={"seed": seed, "percent": percent, "minimum": minimum, "picked": len(picked), "of": len(candidates)},
    )
    session.commit()
    return sample


def latest_sample(*, session: Session, coursework_id: int) -> tuple[ModerationSample | None, list[ModerationPick]]:
    sample = session.scalars(
        select(ModerationSample)
        .where(ModerationSample.coursework_id == coursework_id)
        .order_by(ModerationSample.id.desc())
    ).first()
    if sample is None:
        return None, []
    return sample, list(
        session.scalars(select(ModerationPick).where(ModerationPick.sample_id == sample.id).order_by(ModerationPick.id))
    )


def record_outcome(
    *, session: Session, coursework_id: int, pick_id: int, outcome: ModerationOutcome, note: str, by_user_id: int
) -> ModerationPick | None:
    """Agreed or adjusted, with a note; None when the pick is not this coursework's."""
    pick = session.get(ModerationPick, pick_id)
    if pick is None or session.get_one(ModerationSample, pick.sample_id).coursework_id != coursework_id:
        return None
    now = db_now(session)
    previous = pick.outcome.value if pick.outcome else None
    pick.outcome, pick.note, pick.decided_by_id, pick.decided_at = outcome, note, by_user_id, now
    record_event(
        session=session,
        actor_id=by_user_id,
        action="moderation.outcome",
        subject_type="moderation_pick",
        subject_id=pick.id,
        at=now,
        details={"outcome": outcome.value, "previous": previous},
    )
    session.commit()
    return pick


def marks_in_force(
    *, session: Session, coursework_id: int, subs: dict[int, uuid.UUID]
) -> dict[int, dict[str, ManualMark]]:
    """Student -> item -> the mark in force for their submission in ``subs`` (its own over the
    student's coursework-wide one), for the moderator to read."""
    if not subs:
        return {}
    out: dict[int, dict[str, ManualMark]] = defaultdict(dict)
    rows = session.scalars(
        select(ManualMark).where(ManualMark.coursework_id == coursework_id, ManualMark.student_id.in_(list(subs)))
    )
    for mark in sorted(rows, key=lambda m: m.submission_id is not None):  # the submission's own win
        if mark.submission_id is None or mark.submission_id == subs[mark.student_id]:
            out[mark.student_id][mark.item_id] = mark
    return out
