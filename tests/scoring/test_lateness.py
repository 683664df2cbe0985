import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from marks_factory import cw_rubric

from grader.rubrics.model import LatePolicy
from grader.scoring.lateness import (
    UTC,
    NonexistentLocalTime,
    assess,
    late_factor,
    late_minutes,
    received_at,
    student_deadline,
    to_utc,
)

LONDON = ZoneInfo("Europe/London")
POLICY = LatePolicy(grace_minutes=15, per_day_fraction=0.1, max_days=7)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def london(*args) -> dt.datetime:
    return to_utc(dt.datetime(*args))


# --- deadlines across the clock changes -------------------------------------------------------


def test_deadline_after_october_change_is_gmt():
    assert to_utc(dt.datetime(2026, 10, 25, 12, 0)) == utc(2026, 10, 25, 12, 0)


def test_deadline_before_october_change_is_bst():
    assert to_utc(dt.datetime(2026, 10, 24, 12, 0)) == utc(2026, 10, 24, 11, 0)


def test_deadlines_around_march_change():
    assert to_utc(dt.datetime(2026, 3, 28, 12, 0)) == utc(2026, 3, 28, 12, 0)  # GMT
    assert to_utc(dt.datetime(2026, 3, 29, 12, 0)) == utc(2026, 3, 29, 11, 0)  # BST


def test_sample_cw1_deadline_in_february_is_gmt():
    assert to_utc(dt.datetime(2026, 2, 13, 19, 0)) == utc(2026, 2, 13, 19, 0)


def test_ambiguous_october_time_means_its_later_occurrence():
    # 01:30 on 25 Oct 2026 happens at 00:30 UTC (BST) and again at 01:30 UTC (GMT).
    assert to_utc(dt.datetime(2026, 10, 25, 1, 30)) == utc(2026, 10, 25, 1, 30)


def test_time_skipped_in_march_is_refused():
    with pytest.raises(NonexistentLocalTime):
        to_utc(dt.datetime(2026, 3, 29, 1, 30))


def test_aware_deadline_is_kept():
    aware = dt.datetime(2026, 10, 24, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert to_utc(aware) == utc(2026, 10, 24, 10, 0)


naive_times = st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 12, 31))


@given(naive_times)
def test_to_utc_shows_the_same_wall_time_in_london(local):
    try:
        instant = to_utc(local)
    except NonexistentLocalTime:
        return
    assert instant.tzinfo is UTC
    assert instant.astimezone(LONDON).replace(tzinfo=None) == local


@given(naive_times, naive_times)
def test_to_utc_is_monotone(a, b):
    assume(a <= b)
    try:
        ua, ub = to_utc(a), to_utc(b)
    except NonexistentLocalTime:
        return
    assert ua <= ub


# --- late minutes ------------------------------------------------------------------------------


def test_late_minutes_across_october_change_count_real_time():
    # Wall clocks say 24 hours; 25 hours passed. Two started days, not one.
    deadline = london(2026, 10, 24, 12, 0)
    received = london(2026, 10, 25, 12, 0)
    assert late_minutes(received, deadline) == 25 * 60
    assert late_factor(25 * 60, POLICY).days == 2


def test_late_minutes_across_march_change_count_real_time():
    deadline = london(2026, 3, 28, 12, 0)
    received = london(2026, 3, 29, 12, 0)
    assert late_minutes(received, deadline) == 23 * 60
    assert late_factor(23 * 60, POLICY).days == 1


def test_late_minutes_during_the_repeated_hour():
    deadline = london(2026, 10, 25, 0, 30)  # BST: 23:30 UTC on the 24th
    received = utc(2026, 10, 25, 1, 15)  # 01:15 GMT, the second time the clock shows 01:15
    assert late_minutes(received, deadline) == 105


def test_on_time_exactly_at_deadline_and_a_started_minute_counts():
    d = utc(2026, 10, 24, 11, 0)
    assert late_minutes(d, d) == 0
    assert late_minutes(d - dt.timedelta(hours=3), d) == 0
    assert late_minutes(d + dt.timedelta(seconds=1), d) == 1
    assert late_minutes(d + dt.timedelta(minutes=1), d) == 1
    assert late_minutes(d + dt.timedelta(minutes=1, microseconds=1), d) == 2


def test_no_deadline_is_never_late():
    assert late_minutes(utc(2030, 1, 1), None) == 0


def test_naive_receipt_refused():
    with pytest.raises(ValueError):
        late_minutes(dt.datetime(2026, 10, 24, 12, 0), utc(2026, 10, 24, 11, 0))


# --- the late policy ---------------------------------------------------------------------------


def test_grace_forgives_but_records_minutes():
    within = late_factor(15, POLICY)
    assert within.factor == 1.0 and within.days == 0 and within.minutes == 15 and within.late
    assert not within.penalised


def test_just_past_grace_is_day_one():
    past = late_factor(16, POLICY)
    assert past.days == 1 and past.factor == 0.9


def test_days_count_from_the_deadline_not_from_the_end_of_grace():
    assert late_factor(24 * 60, POLICY).days == 1
    assert late_factor(24 * 60 + 1, POLICY).days == 2


def test_max_days_then_zero():
    last = late_factor(7 * 24 * 60, POLICY)
    assert last.days == 7 and last.factor == 0.3 and not last.zeroed
    after = late_factor(7 * 24 * 60 + 1, POLICY)
    assert after.days == 8 and after.factor == 0.0 and after.zeroed


def test_max_days_zero_means_no_cutoff_and_factor_floors_at_zero():
    policy = LatePolicy(grace_minutes=0, per_day_fraction=0.25, max_days=0)
    assert late_factor(3 * 24 * 60, policy).factor == 0.25
    assert late_factor(30 * 24 * 60, policy).factor == 0.0


def test_default_policy_loses_nothing():
    assert late_factor(10 * 24 * 60, LatePolicy()).factor == 1.0


def test_full_fraction_means_no_late_work():
    lost = late_factor(16, LatePolicy(grace_minutes=15, per_day_fraction=1.0))
    assert lost.factor == 0.0 and lost.zeroed


def test_assess_combines_receipt_and_policy():
    deadline = london(2026, 10, 24, 12, 0)
    assert assess(london(2026, 10, 24, 12, 10), deadline, POLICY).factor == 1.0
    assert assess(london(2026, 10, 25, 12, 0), deadline, POLICY).factor == 0.8
    assert assess(london(2030, 1, 1, 0, 0), None, POLICY).factor == 1.0


policies = st.builds(
    LatePolicy, grace_minutes=st.integers(0, 120), per_day_fraction=st.floats(0, 1), max_days=st.integers(0, 20)
)
instants = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31), timezones=st.just(UTC))


@given(policies, instants, instants, instants)
def test_later_submission_never_loses_less(policy, deadline, r1, r2):
    early, late = sorted([r1, r2])
    a, b = assess(early, deadline, policy), assess(late, deadline, policy)
    assert 0.0 <= b.factor <= a.factor <= 1.0
    assert a.minutes <= b.minutes


@given(instants, instants)
def test_late_iff_after_deadline(received, deadline):
    assert (late_minutes(received, deadline) > 0) == (received > deadline)


# --- receipt times and extensions --------------------------------------------------------------


def test_stated_time_from_service_used_when_earlier():
    ours, theirs = utc(2026, 10, 24, 12, 30), utc(2026, 10, 24, 10, 55)
    assert received_at(ours, theirs, by_service=True) == theirs


def test_stated_time_never_later_than_our_receipt():
    ours = utc(2026, 10, 24, 10, 0)
    assert received_at(ours, utc(2026, 10, 24, 12, 0), by_service=True) == ours


def test_stated_time_from_a_student_is_ignored():
    ours = utc(2026, 10, 24, 12, 30)
    assert received_at(ours, utc(2026, 10, 24, 10, 0), by_service=False) == ours


def test_naive_stated_time_refused():
    with pytest.raises(ValueError):
        received_at(utc(2026, 10, 24, 12, 30), dt.datetime(2026, 10, 24, 10, 0), by_service=True)


def test_extension_is_a_new_local_deadline():
    rubric = cw_rubric()
    assert student_deadline(rubric) == utc(2026, 10, 24, 11, 0)
    # The extension falls after the clock change: GMT.
    assert student_deadline(rubric, dt.datetime(2026, 10, 31, 12, 0)) == utc(2026, 10, 31, 12, 0)


def test_extension_never_moves_the_deadline_earlier():
    rubric = cw_rubric()
    assert student_deadline(rubric, dt.datetime(2026, 10, 20, 12, 0)) == utc(2026, 10, 24, 11, 0)


def test_no_rubric_deadline_means_none_even_with_extension():
    assert student_deadline(cw_rubric(deadline=None), dt.datetime(2026, 10, 31, 12, 0)) is None
