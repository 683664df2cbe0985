"""Who marks what: markers' allocations of students for a coursework, and the coursework's
anonymous-marking switch. Mutating functions commit (with their audit event) before they return.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.db.clock import db_now
from grader.marking.sampling import even_split
from grader.marking.scale_models import MarkingAllocation, MarkingSettings
from grader.users.models import Role, User


class NotAMarker(ValueError):
    """The user named is not an active GTA or lecturer."""


def markers(*, session: Session) -> list[User]:
    """Every active GTA and lecturer, by username."""
    return list(
        session.scalars(
            select(User).where(User.role.in_([Role.gta, Role.lecturer]), User.active.is_(True)).order_by(User.username)
        )
    )


def is_anonymous(*, session: Session, coursework_id: int) -> bool:
    return bool(session.scalar(select(MarkingSettings.anonymous).where(MarkingSettings.coursework_id == coursework_id)))


def set_anonymous(*, session: Session, coursework_id: int, anonymous: bool, by_user_id: int) -> None:
    now = db_now(session)
    row = session.get(MarkingSettings, coursework_id)
    if row is None:
        row = MarkingSettings(coursework_id=coursework_id)
        session.add(row)
    row.anonymous, row.updated_by_id, row.updated_at = anonymous, by_user_id, now
    record_event(
        session=session,
        actor_id=by_user_id,
        action="marking.anonymous",
        subject_type="coursework",
        subject_id=coursework_id,
        at=now,
        details={"anonymous": anonymous},
    )
    session.commit()


def allocations(*, session: Session, coursework_id: int) -> dict[int, int]:
    """Student id -> marker's user id."""
    return dict(
        session.execute(
            select(MarkingAllocation.student_id, MarkingAllocation.marker_id).where(
                MarkingAllocation.coursework_id == coursework_id
            )
        ).all()
    )


def _check_markers(session: Session, marker_ids: Sequence[int]) -> None:
    known = {u.id for u in markers(session=session)}
    unknown = sorted(set(marker_ids) - known)
    if unknown:
        raise NotAMarker(f"not an active GTA or lecturer: user {', '.join(map(str, unknown))}")


def allocate(*, session: Session, coursework_id: int, student_id: int, marker_id: int | None, by_user_id: int) -> None:
    """Allocate one student's work to a marker by hand (``None``: to nobody)."""
    if marker_id is not None:
        _check_markers(session, [marker_id])
    now = db_now(session)
    row = session.scalars(
        select(MarkingAllocation).where(
            MarkingAllocation.coursework_id == coursework_id, MarkingAllocation.student_id == student_id
        )
    ).first()
    if marker_id is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(
            MarkingAllocation(
                coursework_id=coursework_id,
                student_id=student_id,
                marker_id=marker_id,
                allocated_by_id=by_user_id,
                allocated_at=now,
            )
        )
    else:
        row.marker_id, row.allocated_by_id, row.allocated_at = marker_id, by_user_id, now
    record_event(
        session=session,
        actor_id=by_user_id,
        action="marking.allocate",
        subject_type="coursework",
        subject_id=coursework_id,
        at=now,
        details={"student_id": student_id, "marker_id": marker_id},
    )
    session.commit()


def allocate_evenly(
    *,
    session: Session,
    coursework_id: int,
    student_ids: Sequence[int],
    marker_ids: Sequence[int],
    seed: int,
    by_user_id: int,
) -> dict[int, int]:
    """Replace the coursework's allocations with an even, seeded random split of ``student_ids``."""
    _check_markers(session, marker_ids)
    split = even_split(student_ids, marker_ids, seed)
    now = db_now(session)
    session.execute(delete(MarkingAllocation).where(MarkingAllocation.coursework_id == coursework_id))
    session.add_all(
        MarkingAllocation(
            coursework_id=coursework_id, student_id=sid, marker_id=mid, allocated_by_id=by_user_id, allocated_at=now
        )
        for sid, mid in split.items()
    )
    record_event(
        session=session,
        actor_id=by_user_id,
        action="marking.allocate_evenly",
        subject_type="coursework",
        subject_id=coursework_id,
        at=now,
        details={"seed": seed, "markers": sorted(set(marker_ids)), "students": len(split)},
    )
    session.commit()
    return split
