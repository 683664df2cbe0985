"""Markers' marks on Postgres: history of every change, and stale writes refused."""

from __future__ import annotations

import datetime as dt

import pytest
from gradebook_factory import DEADLINE, add_coursework, add_student, add_user, submit
from sqlalchemy import func, select

import grader.marking.service as marking
from grader.audit.models import AuditEvent
from grader.marking.models import ManualMark, MarkChange, MarkKind
from grader.marking.service import StaleMark, mark_history, marks_for_submission, set_mark

T1, T2 = DEADLINE + dt.timedelta(days=3), DEADLINE + dt.timedelta(days=4)


@pytest.fixture
def sheet(session):
    cw, student = add_coursework(session), add_student(session)
    return dict(student_id=student.id, coursework_id=cw.id, submission_id=submit(session, student, cw, DEADLINE).id)


def test_every_change_of_a_mark_is_kept_with_who_when_old_new_and_comment(session, sheet):
    gta, lecturer = add_user(session), add_user(session)
    mark = set_mark(
        session=session,
        **sheet,
        item_id="disc",
        score=5,
        by_user_id=gta.id,
        expected_version=None,
        comment="clear but brief",
        now=T1,
    )
    assert mark.version == 1
    mark = set_mark(
        session=session,
        **sheet,
        item_id="disc",
        score=7,
        by_user_id=lecturer.id,
        expected_version=1,
        comment="moderated up",
        now=T2,
    )
    assert (mark.version, mark.score, mark.comment) == (2, 7, "moderated up")
    history = [
        (c.version, c.changed_by_id, c.changed_at, c.old_score, c.new_score, c.comment)
        for c in mark_history(session=session, mark_id=mark.id)
    ]
    assert history == [(1, gta.id, T1, None, 5, "clear but brief"), (2, lecturer.id, T2, 5, 7, "moderated up")]
    assert session.scalar(select(func.count()).where(AuditEvent.action == "mark.set")) == 2


def test_a_write_naming_a_stale_version_is_refused_and_changes_nothing(session, sheet):
    gta, other = add_user(session), add_user(session)
    set_mark(session=session, **sheet, item_id="disc", score=5, by_user_id=gta.id, expected_version=None)
    set_mark(session=session, **sheet, item_id="disc", score=6, by_user_id=other.id, expected_version=1)
    with pytest.raises(StaleMark):  # the first marker still has version 1 on screen
        set_mark(session=session, **sheet, item_id="disc", score=9, by_user_id=gta.id, expected_version=1)
    with pytest.raises(StaleMark):  # nor can a mark be "created" twice
        set_mark(session=session, **sheet, item_id="disc", score=9, by_user_id=gta.id, expected_version=None)
    mark = session.scalars(select(ManualMark)).one()
    assert (mark.score, mark.version) == (6, 2)
    assert session.scalar(select(func.count()).select_from(MarkChange)) == 2


def test_a_write_that_lands_between_read_and_save_on_another_connection_is_refused(committed, monkeypatch):
    with committed() as setup:
        cw, student, gta, other = add_coursework(setup), add_student(setup), add_user(setup), add_user(setup)
        sheet = dict(student_id=student.id, coursework_id=cw.id, item_id="disc")
        set_mark(session=setup, **sheet, score=5, by_user_id=gta.id, expected_version=None)

    find, interrupted = marking._find, []

    def find_then_someone_else_saves(*args):
        mark = find(*args)  # this marker has read version 1 ...
        if not interrupted:  # ... and another marker saves version 2 before this one writes
            interrupted.append(True)
            with committed() as elsewhere:
                set_mark(session=elsewhere, **sheet, score=8, by_user_id=other.id, expected_version=1)
        return mark

    monkeypatch.setattr(marking, "_find", find_then_someone_else_saves)
    with committed() as session, pytest.raises(StaleMark):
        set_mark(session=session, **sheet, score=2, by_user_id=gta.id, expected_version=1)
    monkeypatch.undo()
    with committed() as check:
        mark = check.scalars(select(ManualMark)).one()
        assert (mark.score, mark.version) == (8, 2)
        assert [c.new_score for c in mark_history(session=check, mark_id=mark.id)] == [5, 8]


def test_a_submissions_own_mark_wins_over_the_students_coursework_mark(session, sheet):
    gta = add_user(session)
    whole = {k: v for k, v in sheet.items() if k != "submission_id"}
    set_mark(session=session, **whole, item_id="disc", score=3, by_user_id=gta.id, expected_version=None)
    set_mark(session=session, **whole, item_id="viva", score=4, by_user_id=gta.id, expected_version=None)
    set_mark(session=session, **sheet, item_id="disc", score=6, by_user_id=gta.id, expected_version=None)
    set_mark(
        session=session,
        **sheet,
        item_id="conv",
        score=1,
        kind=MarkKind.override,
        by_user_id=gta.id,
        expected_version=None,
    )
    marks = marks_for_submission(session=session, **sheet)
    assert {k: (m.score, m.kind) for k, m in marks.items()} == {
        "disc": (6, MarkKind.manual),
        "viva": (4, MarkKind.manual),
        "conv": (1, MarkKind.override),
    }
