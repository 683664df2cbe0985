"""Queries after release: a student asks for one item of their released mark to be looked at again;
the item's marker (their allocation), or else a lecturer, answers, and may change the mark.

A changed mark goes through the markers' own path (``desk.save_mark``: optimistic lock, the mark's
history, its audit event and the ``mark.changed_after_release`` webhook), never around it. A query
may be raised only once the marks are released to the student and within the coursework's window
(``QueryWindow``: days after release, set by a lecturer; no window set: queries are closed).
Every raise, answer and window change is audited. Refusals are ``QueryError``s whose message is
written for the person refused; callers map ``status`` to their own answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.courseworks.models import Coursework, Release
from grader.courseworks.service import is_released
from grader.db.clock import db_now
from grader.marking import desk
from grader.marking.allocations import allocations
from grader.marking.query_models import MarkQuery, QueryStatus, QueryWindow
from grader.marking.service import mark_in_force
from grader.marking.sheet import marks_of_submission, submission_marks
from grader.rubrics.loader import CourseworkFiles
from grader.rubrics.model import Rubric
from grader.submissions.models import Submission
from grader.users.models import Role, User

MAX_WINDOW_DAYS = 365
ANSWERERS = (Role.gta, Role.lecturer)


class QueryError(Exception):
    """A refusal. ``status``: the HTTP status a caller answers with."""

    status = 400


class NotOpenToQueries(QueryError):
    """No marks released to this student (before release, nothing of queries exists for them)."""

    status = 404


class WindowClosed(QueryError):
    status = 403


class NoSuchQuery(QueryError):
    """No such query, item, or coursework; or a GTA's query that is not theirs (not told apart)."""

    status = 404


class QueryConflict(QueryError):
    """Already open on that item, or already answered."""

    status = 409


class BadQuery(QueryError):
    status = 422


# -- the window -----------------------------------------------------------------------------------


def window_days(*, session: Session, coursework_id: int) -> int | None:
    return session.scalar(select(QueryWindow.days).where(QueryWindow.coursework_id == coursework_id))


def set_window(*, session: Session, coursework: Coursework, days: int | None, by_user_id: int | None) -> None:
    """Take queries for ``days`` days after release (0 to 365); ``None`` closes queries. Commits."""
    if days is not None and not 0 <= days <= MAX_WINDOW_DAYS:
        raise BadQuery(f"a query window is 0 to {MAX_WINDOW_DAYS} days after release, not {days}.")
    now = db_now(session)
    row = session.get(QueryWindow, coursework.id)
    previous = row.days if row else None
    if days is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(QueryWindow(coursework_id=coursework.id, days=days, updated_by_id=by_user_id, updated_at=now))
    else:
        row.days, row.updated_by_id, row.updated_at = days, by_user_id, now
    record_event(
        session=session,
        actor_id=by_user_id,
        action="query.window",
        subject_type="coursework",
        subject_id=coursework.id,
        at=now,
        details={"coursework": coursework.code, "days": days, "previous": previous},
    )
    session.commit()


def released_at(*, session: Session, coursework: Coursework, student_id: int) -> dt.datetime | None:
    """When the marks reached this student: the cohort's release, or their own (late work), whichever first."""
    own = session.scalar(
        select(func.min(Release.released_at)).where(
            Release.coursework_id == coursework.id, Release.student_id == student_id
        )
    )
    times = [t for t in (coursework.released_at, own) if t is not None]
    return min(times) if times else None


@dataclass(frozen=True)
class Window:
    """Whether this student may raise a query now, and until when (``closes_at`` None: no window set)."""

    open: bool
    closes_at: dt.datetime | None
    says: str  # a sentence for the student


def window_for(*, session: Session, coursework: Coursework, student_id: int, now: dt.datetime | None = None) -> Window:
    released = released_at(session=session, coursework=coursework, student_id=student_id)
    if released is None or coursework.weight == 0:
        return Window(False, None, "queries are taken on released coursework marks only.")
    days = window_days(session=session, coursework_id=coursework.id)
    if days is None:
        return Window(False, None, "the lecturer has not opened queries for this coursework.")
    closes = released + dt.timedelta(days=days)
    now = now or db_now(session)
    if now >= closes:
        return Window(False, closes, f"the window for queries closed at {closes.isoformat(timespec='minutes')}.")
    return Window(True, closes, f"queries are open until {closes.isoformat(timespec='minutes')}.")


# -- raising ---------------------------------------------------------------------------------------


def _marker_of(session: Session, coursework_id: int, student_id: int) -> int | None:
    """The student's allocated marker, if still an active GTA or lecturer; else None (the lecturers)."""
    marker_id = allocations(session=session, coursework_id=coursework_id).get(student_id)
    if marker_id is None:
        return None
    user = session.get(User, marker_id)
    return marker_id if user is not None and user.active and user.role in ANSWERERS else None


def raise_query(
    *,
    session: Session,
    rubric: Rubric,
    coursework: Coursework,
    student_id: int,
    item_id: str,
    message: str,
    by_user_id: int,
    now: dt.datetime | None = None,
) -> MarkQuery:
    """A query on one item of the student's released mark (the submission that counts). Commits."""
    if not is_released(session=session, coursework=coursework, student_id=student_id):
        raise NotOpenToQueries("the marks for this coursework are not released yet.")
    now = now or db_now(session)
    window = window_for(session=session, coursework=coursework, student_id=student_id, now=now)
    if not window.open:
        raise WindowClosed(f"no query can be raised: {window.says}")
    item = next((i for i in rubric.items if i.id == item_id), None)
    if item is None:
        raise NoSuchQuery(f"{coursework.code} has no item {item_id[:64]!r}.")
    text = message.strip()
    if not text:
        raise BadQuery("say what should be looked at again: the message is empty.")
    marks = submission_marks(session=session, rubric=rubric, coursework=coursework, student_id=student_id)
    if marks.submission is None or marks.total is None:
        raise NotOpenToQueries("no submission was marked for this coursework, so there is nothing to query.")
    if _open_query(session, coursework.id, student_id, item.id) is not None:
        raise QueryConflict(f"you already have an open query on {item.id!r}: wait for its answer.")
    query = MarkQuery(
        coursework_id=coursework.id,
        student_id=student_id,
        submission_id=marks.submission.id,
        item_id=item.id,
        message=text,
        status=QueryStatus.open,
        raised_by_id=by_user_id,
        raised_at=now,
        assigned_to_id=_marker_of(session, coursework.id, student_id),
    )
    try:
        with session.begin_nested():
            session.add(query)
            session.flush()
    except IntegrityError:  # raised twice at once: the unique index on open queries decided
        raise QueryConflict(f"you already have an open query on {item.id!r}: wait for its answer.") from None
    record_event(
        session=session,
        actor_id=by_user_id,
        action="query.raise",
        subject_type="mark_query",
        subject_id=query.id,
        at=now,
        details={
            "coursework": coursework.code,
            "student_id": student_id,
            "item_id": item.id,
            "submission_id": str(marks.submission.id),
            "assigned_to": query.assigned_to_id,
            "message": text,
        },
    )
    session.commit()
    return query


def _open_query(session: Session, coursework_id: int, student_id: int, item_id: str) -> MarkQuery | None:
    return session.scalars(
        select(MarkQuery).where(
            MarkQuery.coursework_id == coursework_id,
            MarkQuery.student_id == student_id,
            MarkQuery.item_id == item_id,
            MarkQuery.status == QueryStatus.open,
        )
    ).first()


# -- reading ---------------------------------------------------------------------------------------


def student_queries(*, session: Session, coursework_id: int, student_id: int) -> list[MarkQuery]:
    """A student's queries on a coursework, oldest first."""
    return list(
        session.scalars(
            select(MarkQuery)
            .where(MarkQuery.coursework_id == coursework_id, MarkQuery.student_id == student_id)
            .order_by(MarkQuery.id)
        )
    )


def staff_queries(
    *, session: Session, coursework_id: int, reader: User, status: QueryStatus | None = QueryStatus.open
) -> list[MarkQuery]:
    """The queries a marker answers: a lecturer every one, a GTA those of the students they mark
    (assigned to them when raised). ``status`` None: open and answered."""
    desk.check_role(reader, ANSWERERS)
    query = select(MarkQuery).where(MarkQuery.coursework_id == coursework_id)
    if reader.role is not Role.lecturer:
        query = query.where(MarkQuery.assigned_to_id == reader.id)
    if status is not None:
        query = query.where(MarkQuery.status == status)
    return list(session.scalars(query.order_by(MarkQuery.raised_at, MarkQuery.id)))


def visible_to(query: MarkQuery, reader: User) -> bool:
    return reader.role is Role.lecturer or (reader.role is Role.gta and query.assigned_to_id == reader.id)


# -- answering -------------------------------------------------------------------------------------


def answer_query(
    *,
    session: Session,
    courseworks: Mapping[str, CourseworkFiles],
    query_id: int,
    marker: User,
    answer: str,
    score: float | None = None,
    public_url: str | None = None,
) -> MarkQuery:
    """Answer a query; with ``score``, the item's mark becomes it (through ``desk.save_mark``, so the
    change is in the mark's history). The answer and the mark commit together, or neither."""
    desk.check_role(marker, ANSWERERS)
    # Locked until the answer commits: a second marker answering at once waits, then finds it answered.
    query = session.get(MarkQuery, query_id, with_for_update=True, populate_existing=True)
    if query is None or not visible_to(query, marker):
        raise NoSuchQuery("no such query (or it is not one of yours to answer).")
    if query.status is not QueryStatus.open:
        raise QueryConflict("this query was already answered.")
    text = answer.strip()
    if not text:
        raise BadQuery("write an answer for the student: it is empty.")
    if score is not None and score < 0:
        raise BadQuery(f"a score cannot be negative ({score:g}).")
    coursework = session.get_one(Coursework, query.coursework_id)
    files = courseworks.get(coursework.code)
    if files is None:
        raise NoSuchQuery(f"coursework {coursework.code!r} has no rubric loaded.")
    sub = session.get_one(Submission, query.submission_id)
    total = marks_of_submission(session=session, rubric=files.rubric, sub=sub).total
    old = next((line.score for line in (total.items if total else []) if line.id == query.item_id), None)
    now = db_now(session)
    changed = score is not None and score != old
    query.status, query.answer, query.answered_by_id, query.answered_at = QueryStatus.answered, text, marker.id, now
    query.old_score, query.new_score = old, score if changed else old
    record_event(
        session=session,
        actor_id=marker.id,
        action="query.answer",
        subject_type="mark_query",
        subject_id=query.id,
        at=now,
        details={"item_id": query.item_id, "old": old, "new": query.new_score, "changed": changed, "answer": text},
    )
    if not changed:
        session.commit()
        return query
    current = mark_in_force(session=session, submission=sub, item_id=query.item_id)
    try:  # commits the answer with the mark, or rolls both back
        desk.save_mark(
            session=session,
            courseworks=courseworks,
            submission_id=sub.id,
            item_id=query.item_id,
            marker=marker,
            score=score,
            comment=current.comment if current is not None else "",  # the sheet's comment stays
            expected_version=current.version if current is not None else None,
            public_url=public_url,
        )
    except desk.DeskError:
        session.rollback()
        raise
    return query
