"""Withdrawing and reinstating students: the date rules (pure) and the gradebook (Postgres)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from grader.audit.models import AuditEvent
from grader.roster.models import Student
from grader.roster.service import RosterEntry, all_students, import_students, roster
from grader.roster.withdrawal import BadWithdrawalDate, UnknownStudent, reinstate, withdraw, withdrawal_instant

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 10, 15, 30, tzinfo=UTC)


# The date a lecturer writes (pure).


def test_no_date_means_none_and_the_caller_uses_now():
    assert withdrawal_instant(None, now=NOW) is None
    assert withdrawal_instant("  ", now=NOW) is None


def test_a_date_is_that_day_at_midnight_utc_and_an_instant_is_kept():
    assert withdrawal_instant("2026-03-02", now=NOW) == dt.datetime(2026, 3, 2, tzinfo=UTC)
    assert withdrawal_instant("2026-03-02T14:00:00+01:00", now=NOW) == dt.datetime(2026, 3, 2, 13, tzinfo=UTC)
    assert withdrawal_instant("2026-03-02T14:00:00Z", now=NOW) == dt.datetime(2026, 3, 2, 14, tzinfo=UTC)


def test_tomorrows_utc_date_is_allowed_for_a_lecturer_east_of_utc_but_not_later():
    assert withdrawal_instant("2026-03-11", now=NOW) == dt.datetime(2026, 3, 11, tzinfo=UTC)
    with pytest.raises(BadWithdrawalDate, match="future"):
        withdrawal_instant("2026-03-12", now=NOW)
    with pytest.raises(BadWithdrawalDate, match="future"):
        withdrawal_instant("2026-03-10T16:00:00+00:00", now=NOW)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2026-03-02 14:00", "no time zone offset"),
        ("2026-02-30", "not a date"),
        ("yesterday", "not a date or an instant"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
    ],
)
def test_what_cannot_be_read_is_refused_with_a_sentence(text, why):
    with pytest.raises(BadWithdrawalDate, match=why):
        withdrawal_instant(text, now=NOW)


# The gradebook.


@pytest.fixture
def students(committed):
    with committed() as session:
        session.add_all([Student(external_id="s1", name="Ada"), Student(external_id="s2", name="Ben")])
        session.commit()
    return committed


def _events(sessions, action):
    with sessions() as session:
        return session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


def _withdrawn_at(sessions, external_id):
    with sessions() as session:
        return session.scalars(select(Student.withdrawn_at).where(Student.external_id == external_id)).one()


def test_withdrawing_takes_the_student_off_the_enrolled_roster_and_is_audited(students):
    on = dt.datetime(2026, 3, 2, tzinfo=UTC)
    with students() as session:
        change = withdraw(session=session, external_id="s1", on=on, reason="left the course", actor_id=None)
        assert change.changed and change.previous is None and change.student.withdrawn_at == on
    with students() as session:
        assert [s.external_id for s in roster(session=session)] == ["s2"]
        assert [s.external_id for s in all_students(session=session)] == ["s1", "s2"]
    (event,) = _events(students, "roster.withdraw")
    assert event.details == {
        "external_id": "s1",
        "old": {"withdrawn_at": None},
        "new": {"withdrawn_at": on.isoformat()},
        "reason": "left the course",
    }


def test_no_date_is_now_by_the_database_clock(students):
    before = dt.datetime.now(UTC) - dt.timedelta(minutes=1)
    with students() as session:
        withdraw(session=session, external_id="s1", actor_id=None)
    assert before < _withdrawn_at(students, "s1") < dt.datetime.now(UTC) + dt.timedelta(minutes=1)


def test_withdrawing_again_keeps_the_first_date_unless_a_different_one_is_given(students):
    first, second = dt.datetime(2026, 3, 2, tzinfo=UTC), dt.datetime(2026, 3, 5, tzinfo=UTC)
    with students() as session:
        withdraw(session=session, external_id="s1", on=first, actor_id=None)
    with students() as session:
        again = withdraw(session=session, external_id="s1", actor_id=None)  # a retry: no date
        same = withdraw(session=session, external_id="s1", on=first, actor_id=None)
        assert not again.changed and not same.changed and again.student.withdrawn_at == first
    assert _withdrawn_at(students, "s1") == first
    assert len(_events(students, "roster.withdraw")) == 1  # nothing changed, nothing recorded
    with students() as session:
        corrected = withdraw(session=session, external_id="s1", on=second, actor_id=None)
        assert corrected.changed and corrected.previous == first
    assert _withdrawn_at(students, "s1") == second
    assert _events(students, "roster.withdraw")[-1].details["old"] == {"withdrawn_at": first.isoformat()}


def test_reinstating_puts_the_student_back_and_is_audited(students):
    on = dt.datetime(2026, 3, 2, tzinfo=UTC)
    with students() as session:
        withdraw(session=session, external_id="s1", on=on, actor_id=None)
    with students() as session:
        change = reinstate(session=session, external_id="s1", actor_id=None)
        assert change.changed and change.previous == on and change.student.withdrawn_at is None
    with students() as session:
        assert [s.external_id for s in roster(session=session)] == ["s1", "s2"]
    (event,) = _events(students, "roster.reinstate")
    assert event.details == {
        "external_id": "s1",
        "old": {"withdrawn_at": on.isoformat()},
        "new": {"withdrawn_at": None},
    }


def test_reinstating_an_enrolled_student_changes_and_records_nothing(students):
    with students() as session:
        assert not reinstate(session=session, external_id="s2", actor_id=None).changed
    assert _withdrawn_at(students, "s2") is None and _events(students, "roster.reinstate") == []


def test_an_unknown_student_is_a_clear_error_and_nothing_is_written(students):
    with students() as session:
        with pytest.raises(UnknownStudent, match="no student with external id 'nope' is on the roster"):
            withdraw(session=session, external_id="nope", actor_id=None)
        with pytest.raises(UnknownStudent, match="'nope'"):
            reinstate(session=session, external_id="nope", actor_id=None)
    assert _events(students, "roster.withdraw") == [] and _events(students, "roster.reinstate") == []


def test_a_naive_date_is_refused_before_anything_is_read(students):
    with students() as session, pytest.raises(ValueError, match="timezone-aware"):
        withdraw(session=session, external_id="s1", on=dt.datetime(2026, 3, 2), actor_id=None)
    assert _withdrawn_at(students, "s1") is None


def test_the_roster_import_never_reinstates_and_says_who_stays_withdrawn(students):
    on = dt.datetime(2026, 3, 2, tzinfo=UTC)
    with students() as session:
        withdraw(session=session, external_id="s1", on=on, actor_id=None)
    with students() as session:
        result = import_students(
            session=session,
            entries=[RosterEntry("s1", "Ada L."), RosterEntry("s2", "Ben"), RosterEntry("s3", "Cy")],
        )
    assert (result.created, result.updated, result.unchanged, result.still_withdrawn) == (1, 1, 1, ("s1",))
    assert _withdrawn_at(students, "s1") == on  # the name changed; the withdrawal did not
    assert _events(students, "roster.import")[-1].details["still_withdrawn"] == 1
