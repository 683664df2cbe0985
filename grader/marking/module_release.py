"""The lecturer's release of module marks, and what one student may read of their module marks.

| what                  | a student sees it                                                  |
| coursework mark       | once every assessed coursework's marks are released to them       |
| exam and module mark  | once the lecturer has released module marks, and the above holds  |

Before then the keys are absent, not zero: a coursework mark before a coursework's release would
reveal the hidden items' share of its total, and a module mark would reveal the coursework mark.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.courseworks.models import Coursework
from grader.courseworks.service import is_released
from grader.db.clock import db_now
from grader.marking.cohort import assessed, cohort_marks
from grader.marking.module_models import ModuleRelease
from grader.roster.models import Student
from grader.rubrics.model import Rubric
from grader.scoring.rounding import ROUNDING_RULE, final_mark, round_half_up


class ModuleReleaseRefused(ValueError):
    """Module marks cannot be released yet; the message says what to do first."""


def module_release(*, session: Session) -> ModuleRelease | None:
    """The first release of module marks, or None while they are unreleased."""
    return session.scalars(select(ModuleRelease).order_by(ModuleRelease.id).limit(1)).first()


def release_module(
    *,
    session: Session,
    courseworks: Iterable[tuple[Rubric, Coursework]],
    released_by_id: int | None,
    note: str = "",
    now: dt.datetime | None = None,
) -> ModuleRelease:
    """Release module marks to every student. A student sees them only once every assessed
    coursework is released to them as well (``student_module_view``): the module mark would give the
    coursework marks away. Refused only when there is no assessed coursework at all."""
    chosen = assessed(courseworks)
    if not chosen:
        raise ModuleReleaseRefused("there is no assessed coursework, so there is no module mark to release.")
    now = now or db_now(session)
    first = module_release(session=session)
    release = ModuleRelease(released_by_id=released_by_id, released_at=now, note=note)
    session.add(release)
    session.flush()
    record_event(
        session=session,
        actor_id=released_by_id,
        action="module.release",
        subject_type="module",
        subject_id="module",
        at=now,
        details={
            "note": note,
            "again": first is not None,
            "unreleased_courseworks": [a.code for a in chosen if a.coursework.released_at is None],
        },
    )
    session.commit()
    return first or release


def student_module_view(
    *, session: Session, courseworks: Iterable[tuple[Rubric, Coursework]], student: Student
) -> dict[str, Any]:
    """What ``student`` may read of their module marks (see the table above). Absent keys are
    withheld, not zero."""
    pairs = list(courseworks)
    chosen = assessed(pairs)
    released = {a.code: is_released(session=session, coursework=a.coursework, student_id=student.id) for a in chosen}
    view: dict[str, Any] = {
        "courseworks": [
            {"code": a.code, "title": a.coursework.title, "weight": a.weight, "released": released[a.code]}
            for a in chosen
        ],
        "coursework_mark_released": bool(chosen) and all(released.values()),
        "module_released": module_release(session=session) is not None,
        "rounding": ROUNDING_RULE,
    }
    if not view["coursework_mark_released"]:
        return view
    marks = cohort_marks(session=session, courseworks=pairs, student_ids=[student.id]).students
    mine = marks[0] if marks else None
    if mine is None or mine.coursework_mark is None:
        return view
    view["coursework_mark"] = round_half_up(mine.coursework_mark)
    if view["module_released"]:
        if mine.exam_mark is not None:
            view["exam_mark"] = round_half_up(mine.exam_mark)
        if mine.module_mark is not None:
            view["module_mark"] = round_half_up(mine.module_mark)
            view["module_mark_final"] = final_mark(mine.module_mark)
    return view
