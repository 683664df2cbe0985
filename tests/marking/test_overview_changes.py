"""The overview's change log: every write an overview row is read from is logged, by trigger, for
its student and coursework, in the writer's own transaction; a cursor (a snapshot) finds exactly
the changes it had not seen, a change committed after it was taken included; and this process's
kept rows follow every change, recomputing only the changed students."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from gradebook_factory import DEADLINE, RUBRIC, TESTS, add_coursework, add_student, add_user, graded_report, submit
from sqlalchemy import delete, text, update
from sqlalchemy.orm import Session, sessionmaker

from grader.courseworks.models import Coursework, DeadlineExtension, MitigatingCircumstance
from grader.marking.models import ManualMark
from grader.marking.overview import coursework_overview
from grader.marking.overview_changes import Changes, Cursor, change_cursor, changes_since
from grader.marking.overview_rows import OverviewRows
from grader.marking.service import set_mark
from grader.roster.models import Student
from grader.runs.service import claim_run, complete_run, enqueue_run

AT = DEADLINE - dt.timedelta(hours=1)


def cohort(sessions: sessionmaker[Session]) -> tuple[int, int, int, list]:
    """A coursework, a marker and two students with a submission each: (cw, marker, alice, [subs])."""
    with sessions() as s:
        cw, marker = add_coursework(s), add_user(s)
        students = [add_student(s), add_student(s)]
        subs = [submit(s, st, cw, AT).id for st in students]
        s.commit()
        return cw.id, marker.id, students[0].id, [(st.id, sub) for st, sub in zip(students, subs, strict=True)]


def since(sessions: sessionmaker[Session], cw_id: int, cursor: Cursor) -> Changes:
    with sessions() as s:
        return changes_since(s, cw_id, cursor, change_cursor(s))


def now(sessions: sessionmaker[Session]) -> Cursor:
    with sessions() as s:
        cursor = change_cursor(s)
        assert cursor is not None
        return cursor


def mark(s: Session, cw_id: int, marker_id: int, student_id: int, sub_id, score: float) -> ManualMark:
    return set_mark(
        session=s,
        student_id=student_id,
        coursework_id=cw_id,
        item_id="disc",
        score=score,
        by_user_id=marker_id,
        expected_version=None,
        submission_id=sub_id,
    )


def test_each_write_is_logged_for_its_student_or_for_everyone(committed):
    cw_id, marker_id, _, [(alice, alice_sub), (bob, bob_sub)] = cohort(committed)
    nothing = Changes(everything=False)

    def after(write) -> Changes:
        cursor = now(committed)
        with committed() as s:
            write(s)
            s.commit()
        return since(committed, cw_id, cursor)

    assert after(lambda s: None) == nothing
    assert after(lambda s: mark(s, cw_id, marker_id, alice, alice_sub, 3)) == Changes(False, frozenset({alice}))

    def grade_bob(s: Session) -> None:  # a worker's path: enqueue, claim, results
        run = enqueue_run(session=s, submission_id=bob_sub)
        complete_run(
            session=s, lease=claim_run(session=s, run_id=run.id, worker_id="w"), report=graded_report(), tests=TESTS
        )

    assert after(grade_bob) == Changes(False, frozenset({bob}))
    assert after(
        lambda s: s.add(
            DeadlineExtension(student_id=alice, coursework_id=cw_id, deadline=DEADLINE, granted_by_id=marker_id)
        )
    ) == Changes(False, frozenset({alice}))
    assert after(lambda s: s.execute(update(Student).where(Student.id == bob).values(name="Bob R."))) == Changes(
        False, frozenset({bob})
    )
    assert after(
        lambda s: s.execute(delete(DeadlineExtension).where(DeadlineExtension.student_id == alice))
    ) == Changes(False, frozenset({alice}))
    # Mitigating circumstances (migration 0015): waiving a late penalty changes the row's total.
    assert after(
        lambda s: s.add(
            MitigatingCircumstance(student_id=bob, coursework_id=cw_id, reason="", recorded_by_id=marker_id)
        )
    ) == Changes(False, frozenset({bob}))
    assert after(
        lambda s: s.execute(delete(MitigatingCircumstance).where(MitigatingCircumstance.student_id == bob))
    ) == Changes(False, frozenset({bob}))
    # What every row is read with: the coursework's deadline; a truncated table names no rows.
    assert after(
        lambda s: s.execute(update(Coursework).where(Coursework.id == cw_id).values(deadline=DEADLINE))
    ).everything
    assert after(lambda s: s.execute(text("TRUNCATE manual_marks, mark_changes"))).everything
    # Another coursework's writes are not this one's.
    other = after(lambda s: submit(s, s.get(Student, alice), add_coursework(s), AT))
    assert other == nothing


def test_a_write_committed_after_the_cursor_was_taken_is_found_and_an_earlier_one_is_not(committed):
    cw_id, marker_id, _, [(alice, alice_sub), (bob, bob_sub)] = cohort(committed)
    with committed() as writer:
        writer.add(DeadlineExtension(student_id=alice, coursework_id=cw_id, deadline=DEADLINE, granted_by_id=marker_id))
        writer.flush()  # written, not committed: a reader cannot see it yet
        cursor = now(committed)
        assert since(committed, cw_id, cursor) == Changes(False)
        writer.commit()
    assert since(committed, cw_id, cursor) == Changes(False, frozenset({alice}))
    assert since(committed, cw_id, now(committed)) == Changes(False)  # seen already: not again


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "5:4:", "0:10:", "10:20:25", "10:20:15,12", "10:20:" + ",".join(["15"] * 2000), "1:2:3:4"],
)
def test_a_cursor_that_is_not_a_snapshot_is_unknown(token):
    assert Cursor.parse(token) is None


def test_an_unknown_or_future_cursor_means_everything(committed):
    cw_id, *_ = cohort(committed)
    current = now(committed)
    future = Cursor(current.xmax + 10, current.xmax + 10, ())
    assert since(committed, cw_id, future).everything
    with committed() as s:
        assert changes_since(s, cw_id, None, change_cursor(s)).everything
    assert Cursor.parse(str(current)) == current


def test_kept_rows_follow_every_change_and_recompute_only_the_changed_students(committed):
    cw_id, marker_id, _, [(alice, alice_sub), (bob, bob_sub)] = cohort(committed)
    kept = OverviewRows()
    with committed() as s:
        cw = s.get_one(Coursework, cw_id)
        first = kept.current(session=s, rubric=RUBRIC, coursework=cw)
    assert first.changed.everything and {r.student_id: r.marked for r in first.rows} == {alice: 0, bob: 0}

    with committed() as s:
        mark(s, cw_id, marker_id, alice, alice_sub, 3)
        s.commit()
    with committed() as s:
        cw = s.get_one(Coursework, cw_id)
        second = kept.current(session=s, rubric=RUBRIC, coursework=cw)
        assert second.changed == Changes(False, frozenset({alice}))
        assert second.rows == coursework_overview(session=s, rubric=RUBRIC, coursework=cw)  # as if recomputed
        assert {r.student_id: r.marked for r in second.rows} == {alice: 1, bob: 0}
        assert kept.current(session=s, rubric=RUBRIC, coursework=cw).changed == Changes(False)
        # Another rubric (the course files reloaded): every row again.
        other = RUBRIC.model_copy()
        assert kept.current(session=s, rubric=other, coursework=cw).changed.everything
        # A withdrawn student leaves the rows.
        s.execute(update(Student).where(Student.id == bob).values(withdrawn_at=AT))
        s.commit()
        third = kept.current(session=s, rubric=other, coursework=s.get_one(Coursework, cw_id))
        assert [r.student_id for r in third.rows] == [alice] and dataclasses.replace(third.rows[0]) == second.rows[0]
