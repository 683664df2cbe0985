"""Receiving submissions on Postgres: idempotency keys, lateness, duplicates, which one counts."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradebook_factory import DEADLINE, add_coursework, add_student, add_user, sha, submit
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

import grader.submissions.service as submissions_service
from grader.courseworks.service import effective_deadline, grant_extension
from grader.submissions.models import CountingChoice, DuplicateFlag, Submission
from grader.submissions.service import (
    IdempotencyConflict,
    ReceivedFile,
    choose_counting_submission,
    counting_submission,
    list_submissions,
    record_submission,
)

H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


def submissions_of(session, student) -> int:
    return session.scalar(select(func.count()).select_from(Submission).where(Submission.student_id == student.id))


def test_the_same_idempotency_key_gives_back_the_first_submission(session):
    cw, student, other = add_coursework(session), add_student(session), add_student(session)
    first = submit(session, student, cw, DEADLINE - H, content="nb", key="k1")
    again, created = record_submission(
        session=session,
        coursework_id=cw.id,
        student_id=student.id,
        sha256=sha("nb"),
        size_bytes=1234,
        original_filename="cw1.ipynb",
        blob_key=sha("nb"),
        idempotency_key="k1",
        now=DEADLINE,
    )
    assert (again.id, created, again.received_at) == (first.id, False, DEADLINE - H)
    assert submissions_of(session, student) == 1
    # The key is the student's own: another student's k1 is another submission.
    assert submit(session, other, cw, DEADLINE, content="nb", key="k1").id != first.id
    # No key: every upload is a submission.
    submit(session, student, cw, DEADLINE, content="nb")
    assert submissions_of(session, student) == 2


def test_an_idempotency_key_reused_for_a_different_file_is_refused(session):
    cw, student = add_coursework(session), add_student(session)
    submit(session, student, cw, DEADLINE - H, content="nb", key="k1")
    with pytest.raises(IdempotencyConflict):
        submit(session, student, cw, DEADLINE, content="another notebook", key="k1")
    assert submissions_of(session, student) == 1


def test_two_identical_uploads_at_once_on_two_connections_make_one_submission(committed, monkeypatch):
    with committed() as setup:
        cw, student = add_coursework(setup), add_student(setup)
        setup.commit()
    # Both requests look the key up before either inserts: the database's unique key must decide.
    both_looked, looked = threading.Barrier(2), threading.local()
    by_key = submissions_service._by_key

    def look_up_at_the_same_moment(*args):
        if getattr(looked, "once", False):
            return by_key(*args)
        looked.once = True
        both_looked.wait()
        return None

    monkeypatch.setattr(submissions_service, "_by_key", look_up_at_the_same_moment)

    def upload(_: int) -> tuple[uuid.UUID, bool]:
        with committed() as session:
            sub, created = record_submission(
                session=session,
                coursework_id=cw.id,
                student_id=student.id,
                sha256=sha("nb"),
                size_bytes=10,
                original_filename="cw1.ipynb",
                blob_key=sha("nb"),
                idempotency_key="same",
            )
            return sub.id, created

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(upload, range(2)))
    assert len({sub_id for sub_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, True]
    with committed() as check:
        assert submissions_of(check, student) == 1


def test_late_minutes_use_the_students_deadline_and_an_extension_recomputes_them(session):
    cw, student, lecturer = add_coursework(session), add_student(session), add_user(session)
    late = submit(session, student, cw, DEADLINE + D + 30 * dt.timedelta(seconds=1))
    assert late.late_minutes == 24 * 60 + 1  # a started minute counts
    grant_extension(
        session=session,
        student_id=student.id,
        coursework_id=cw.id,
        deadline=DEADLINE + 2 * D,
        granted_by_id=lecturer.id,
        reason="illness",
    )
    assert effective_deadline(session=session, student_id=student.id, coursework_id=cw.id) == DEADLINE + 2 * D
    session.refresh(late)
    assert late.late_minutes == 0
    assert submit(session, student, cw, DEADLINE + 2 * D + H).late_minutes == 60


def test_a_forwarding_course_systems_stated_time_decides_lateness_but_never_makes_it_later(session):
    cw, student = add_coursework(session), add_student(session)
    forwarded = submit(session, student, cw, DEADLINE + H, stated=DEADLINE - 5 * dt.timedelta(minutes=1))
    assert (forwarded.received_at, forwarded.late_minutes) == (DEADLINE + H, 0)
    claimed_later = submit(session, student, cw, DEADLINE - H, stated=DEADLINE + H)
    assert claimed_later.late_minutes == 0  # our own receipt was in time


def test_the_latest_in_time_counts_honouring_an_extension(session):
    cw, lecturer = add_coursework(session), add_user(session)
    extended, plain = add_student(session), add_student(session)
    grant_extension(
        session=session,
        student_id=extended.id,
        coursework_id=cw.id,
        deadline=DEADLINE + 2 * D,
        granted_by_id=lecturer.id,
    )
    subs = {s.id: {at: submit(session, s, cw, DEADLINE + at) for at in (-H, D, 3 * D)} for s in (extended, plain)}
    assert (
        counting_submission(session=session, student_id=extended.id, coursework_id=cw.id).id == subs[extended.id][D].id
    )
    assert counting_submission(session=session, student_id=plain.id, coursework_id=cw.id).id == subs[plain.id][-H].id


def test_a_lecturers_pick_counts_instead(session):
    cw, student, lecturer = add_coursework(session), add_student(session), add_user(session)
    early, late = submit(session, student, cw, DEADLINE - H), submit(session, student, cw, DEADLINE + D)
    assert counting_submission(session=session, student_id=student.id, coursework_id=cw.id).id == early.id
    choose_counting_submission(session=session, submission_id=late.id, chosen_by_id=lecturer.id, reason="appeal")
    assert counting_submission(session=session, student_id=student.id, coursework_id=cw.id).id == late.id


def test_with_nothing_in_time_the_latest_late_one_counts_and_nothing_sent_is_none(session):
    cw, student, absent = add_coursework(session), add_student(session), add_student(session)
    submit(session, student, cw, DEADLINE + H)
    latest = submit(session, student, cw, DEADLINE + 5 * H)
    assert counting_submission(session=session, student_id=student.id, coursework_id=cw.id).id == latest.id
    assert counting_submission(session=session, student_id=absent.id, coursework_id=cw.id) is None


def test_grace_counts_as_in_time_and_no_deadline_means_the_latest(session):
    cw, student = add_coursework(session), add_student(session)
    submit(session, student, cw, DEADLINE - H)
    in_grace = submit(session, student, cw, DEADLINE + 10 * dt.timedelta(minutes=1))
    assert (
        counting_submission(session=session, student_id=student.id, coursework_id=cw.id, grace_minutes=15).id
        == in_grace.id
    )
    open_cw = add_coursework(session, deadline=None)
    submit(session, student, open_cw, DEADLINE)
    newest = submit(session, student, open_cw, DEADLINE + 30 * D)
    assert newest.late_minutes == 0
    assert counting_submission(session=session, student_id=student.id, coursework_id=open_cw.id).id == newest.id
    assert [s.id for s in list_submissions(session=session, student_id=student.id, coursework_id=open_cw.id)][
        -1
    ] == newest.id


def test_a_counting_choice_cannot_name_another_students_submission(session):
    cw, student, other = add_coursework(session), add_student(session), add_student(session)
    theirs = submit(session, other, cw, DEADLINE)
    session.add(CountingChoice(student_id=student.id, coursework_id=cw.id, submission_id=theirs.id))
    with pytest.raises(IntegrityError):
        session.flush()


def test_a_file_identical_to_another_students_is_flagged_against_the_earliest(session):
    cw = add_coursework(session)
    a, b, c = add_student(session), add_student(session), add_student(session)
    model = ReceivedFile("model.pth", sha("weights"), 99)
    firsts = []
    for n, student in enumerate((a, b, c)):
        sub, _ = record_submission(
            session=session,
            coursework_id=cw.id,
            student_id=student.id,
            sha256=sha(f"zip{n}"),
            size_bytes=500,
            original_filename="cw2.zip",
            blob_key=sha(f"zip{n}"),
            now=DEADLINE + n * H,
            files=[ReceivedFile("cw2.ipynb", sha(f"nb{n}"), 100), model],
        )
        firsts.append(sub)
    resubmit, _ = record_submission(  # a student's own earlier file is no copy
        session=session,
        coursework_id=cw.id,
        student_id=a.id,
        sha256=sha("zip0b"),
        size_bytes=500,
        original_filename="cw2.zip",
        blob_key=sha("zip0b"),
        now=DEADLINE + 4 * H,
        files=[model],
    )
    flags = session.scalars(select(DuplicateFlag).order_by(DuplicateFlag.flagged_at)).all()
    assert [(f.submission_id, f.path, f.duplicate_of_id) for f in flags] == [
        (firsts[1].id, "model.pth", firsts[0].id),
        (firsts[2].id, "model.pth", firsts[0].id),
        (resubmit.id, "model.pth", firsts[1].id),
    ]
