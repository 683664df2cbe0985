"""A new submission supersedes the student's older waiting runs, never the one that counts (the
deadline and extensions decide), and a superseded run can be brought back."""

from __future__ import annotations

import datetime as dt

from gradebook_factory import DEADLINE, add_coursework, add_student, add_user, submit
from sqlalchemy.orm import Session

from grader.courseworks.service import grant_extension
from grader.runs.fair_queue import RAISED
from grader.runs.models import RunStatus
from grader.runs.service import claim_next_run, enqueue_run, get_run
from grader.submissions.flows import grade_first, queue_grading
from grader.submissions.supersede import supersede_waiting_runs
from grader.users.models import Role

M = dt.timedelta(minutes=1)


class Wakes:
    def __init__(self) -> None:
        self.woken: list[int] = []

    def wake(self, run_id: int, queue: str) -> None:
        self.woken.append(run_id)


def upload(session: Session, student, cw, at: dt.datetime, wakes: Wakes | None = None) -> int:
    """What the API does for a new upload: record it, supersede, queue its runs."""
    sub = submit(session, student, cw, at)
    run = queue_grading(
        session=session, run_queue=wakes or Wakes(), submission_id=sub.id, queue="cpu", supersede_grace_minutes=0
    )
    assert run is not None
    return run.id


def status(session: Session, run_id: int) -> RunStatus:
    return get_run(session=session, run_id=run_id).status


def test_a_new_submission_supersedes_the_older_waiting_ones(session):
    cw, student, other = add_coursework(session), add_student(session), add_student(session)
    first = upload(session, student, cw, DEADLINE - 30 * M)
    someone_else = upload(session, other, cw, DEADLINE - 29 * M)
    second = upload(session, student, cw, DEADLINE - 20 * M)
    third = upload(session, student, cw, DEADLINE - 10 * M)
    assert [status(session, r) for r in (first, second, third)] == [
        RunStatus.superseded,
        RunStatus.superseded,
        RunStatus.queued,
    ]
    assert status(session, someone_else) is RunStatus.queued  # only one's own
    assert get_run(session=session, run_id=first).superseded_by_id is not None


def test_an_on_time_submission_is_not_superseded_by_a_late_one(session):
    cw, student = add_coursework(session), add_student(session)
    on_time = upload(session, student, cw, DEADLINE - 5 * M)
    late = upload(session, student, cw, DEADLINE + 5 * M)
    assert status(session, on_time) is RunStatus.queued  # it counts: it will be graded
    later = upload(session, student, cw, DEADLINE + 9 * M)
    assert [status(session, r) for r in (on_time, late, later)] == [
        RunStatus.queued,
        RunStatus.superseded,
        RunStatus.queued,
    ]


def test_with_an_extension_the_later_submission_counts_and_supersedes(session):
    cw, student = add_coursework(session), add_student(session)
    grant_extension(
        session=session, student_id=student.id, coursework_id=cw.id, deadline=DEADLINE + 60 * M, granted_by_id=None
    )
    before_deadline = upload(session, student, cw, DEADLINE - 5 * M)
    within_extension = upload(session, student, cw, DEADLINE + 30 * M)
    assert [status(session, r) for r in (before_deadline, within_extension)] == [
        RunStatus.superseded,
        RunStatus.queued,
    ]


def test_running_runs_and_staff_requests_are_never_superseded(session):
    cw, student, lecturer = add_coursework(session), add_student(session), add_user(session, Role.lecturer)
    running = upload(session, student, cw, DEADLINE - 30 * M)
    assert claim_next_run(session=session, worker_id="w", now=DEADLINE - 29 * M).run_id == running
    regrade_sub = submit(session, student, cw, DEADLINE - 25 * M)
    requested = enqueue_run(session=session, submission_id=regrade_sub.id, requested_by_id=lecturer.id).id
    newest = submit(session, student, cw, DEADLINE - 20 * M)
    assert supersede_waiting_runs(session=session, submission=newest) == []
    assert status(session, running) is RunStatus.running and status(session, requested) is RunStatus.queued


def test_a_superseded_run_is_brought_back_by_a_regrade_or_a_lecturer(session):
    cw, student, lecturer = add_coursework(session), add_student(session), add_user(session, Role.lecturer)
    first = upload(session, student, cw, DEADLINE - 30 * M)
    upload(session, student, cw, DEADLINE - 20 * M)
    assert status(session, first) is RunStatus.superseded
    sub_id = get_run(session=session, run_id=first).submission_id
    wakes = Wakes()
    run = grade_first(session=session, run_queue=wakes, submission_id=sub_id, queue="cpu", lecturer_id=lecturer.id)
    assert run is not None and run.id == first  # the same run, back in the queue, raised
    assert run.status is RunStatus.queued and run.priority == RAISED and run.superseded_by_id is None
    assert wakes.woken == [first]
    # Raised, it is claimed before the newer submission that superseded it.
    assert claim_next_run(session=session, worker_id="w", now=DEADLINE).run_id == first


def test_grade_first_raises_a_queued_run_and_leaves_a_running_one(session):
    cw, a, b = add_coursework(session), add_student(session), add_student(session)
    lecturer = add_user(session, Role.lecturer)
    ahead = upload(session, a, cw, DEADLINE - 30 * M)
    behind = upload(session, b, cw, DEADLINE - 20 * M)
    sub_id = get_run(session=session, run_id=behind).submission_id
    run = grade_first(session=session, run_queue=Wakes(), submission_id=sub_id, queue="cpu", lecturer_id=lecturer.id)
    assert run is not None and run.id == behind and run.priority == RAISED
    assert claim_next_run(session=session, worker_id="w", now=DEADLINE).run_id == behind
    again = grade_first(session=session, run_queue=Wakes(), submission_id=sub_id, queue="cpu", lecturer_id=lecturer.id)
    assert again is not None and again.id == behind and again.status is RunStatus.running
    assert status(session, ahead) is RunStatus.queued
