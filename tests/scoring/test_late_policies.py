"""The UK late policies: a mark capped at the pass mark for N working days then zero, and a penalty
waived for mitigating circumstances; working days counted across the clock changes."""

import datetime as dt

import pytest
from marks_factory import cw_rubric
from pydantic import ValidationError

from grader.rubrics.model import LatePolicy
from grader.scoring.lateness import (
    UTC,
    cap_lateness,
    late_factor,
    late_minutes,
    policy_lateness,
    to_utc,
    waived,
    working_days_late,
)
from grader.scoring.totals import coursework_total

CAP = LatePolicy(kind="cap", grace_minutes=15, cap_fraction=0.5, cap_working_days=5)
FULL_AUTO = {"vae_layers": 20, "vae_loss": 10, "gan_arch": 20}  # 50 of 100 from auto items
MARKED = {"vae_disc": 20, "gan_images": 10}  # with these, 80 of 100


def london(*args) -> dt.datetime:
    return to_utc(dt.datetime(*args))


# --- working days -------------------------------------------------------------------------------


def test_a_friday_deadline_sent_on_the_weekend_is_one_working_day_late():
    deadline = london(2026, 3, 6, 16, 0)  # a Friday
    assert working_days_late(london(2026, 3, 6, 16, 1), deadline) == 1
    assert working_days_late(london(2026, 3, 8, 23, 0), deadline) == 1  # Sunday night
    assert working_days_late(london(2026, 3, 9, 15, 59), deadline) == 1  # Monday before 16:00
    assert working_days_late(london(2026, 3, 9, 16, 1), deadline) == 2
    assert working_days_late(deadline, deadline) == 0  # exactly at the deadline is on time


def test_working_days_across_the_march_clock_change_end_at_the_deadlines_wall_time():
    # Friday 27 March 16:00 GMT; the clocks go forward on Sunday 29 March. Monday's day starts at
    # 16:00 BST (15:00 UTC): 72 real hours after the deadline less the lost hour.
    deadline = london(2026, 3, 27, 16, 0)
    assert deadline == dt.datetime(2026, 3, 27, 16, 0, tzinfo=UTC)
    monday_1530_bst = dt.datetime(2026, 3, 30, 14, 30, tzinfo=UTC)
    monday_1630_bst = dt.datetime(2026, 3, 30, 15, 30, tzinfo=UTC)  # before 16:00 UTC, after 16:00 BST
    assert working_days_late(monday_1530_bst, deadline) == 1
    assert working_days_late(monday_1630_bst, deadline) == 2


def test_working_days_across_the_october_clock_change_end_at_the_deadlines_wall_time():
    # Friday 23 October 16:00 BST (15:00 UTC); the clocks go back on Sunday 25 October.
    deadline = london(2026, 10, 23, 16, 0)
    assert deadline == dt.datetime(2026, 10, 23, 15, 0, tzinfo=UTC)
    monday_1530_gmt = dt.datetime(2026, 10, 26, 15, 30, tzinfo=UTC)  # 72.5 real hours later, before 16:00 GMT
    assert working_days_late(monday_1530_gmt, deadline) == 1
    assert working_days_late(dt.datetime(2026, 10, 26, 16, 1, tzinfo=UTC), deadline) == 2


def test_bank_holidays_are_not_working_days():
    deadline = london(2026, 12, 24, 16, 0)  # Thursday; Friday 25 and Monday 28 are bank holidays
    sent = london(2026, 12, 29, 10, 0)  # Tuesday morning
    assert working_days_late(sent, deadline) == 3  # Thu, Fri, Mon
    assert working_days_late(sent, deadline, holidays={dt.date(2026, 12, 25), dt.date(2026, 12, 28)}) == 1


def test_late_for_a_weekend_deadline_is_at_least_one_day():
    deadline = london(2026, 3, 7, 12, 0)  # a Saturday
    assert working_days_late(london(2026, 3, 7, 13, 0), deadline) == 1


def test_naive_receipt_refused():
    with pytest.raises(ValueError, match="naive"):
        working_days_late(dt.datetime(2026, 3, 7, 13, 0), london(2026, 3, 7, 12, 0))


# --- the cap policy -------------------------------------------------------------------------------


def test_cap_policy_caps_for_n_working_days_then_zero():
    assert cap_lateness(0, 0, CAP).factor == 1.0 and not cap_lateness(0, 0, CAP).penalised
    within_grace = cap_lateness(10, 1, CAP)
    assert within_grace.factor == 1.0 and within_grace.cap_fraction is None and within_grace.late
    day5 = cap_lateness(5 * 1440, 5, CAP)
    assert day5.cap_fraction == 0.5 and not day5.zeroed and day5.label == "late, capped at 50%"
    day6 = cap_lateness(6 * 1440, 6, CAP)
    assert day6.zeroed and day6.factor == 0.0 and day6.label == "late, mark zero"


def test_cap_is_at_the_pass_mark_and_never_raises_a_mark():
    rubric = cw_rubric(late_policy=CAP.model_dump())
    capped = cap_lateness(60, 1, CAP)
    high = coursework_total(rubric, FULL_AUTO, MARKED, lateness=capped)
    assert high.before_late == 80 and high.total == 50
    assert "capped at 50 (the pass mark)" in high.notes[0] and "1 working days" in high.notes[0]
    low = coursework_total(rubric, {"vae_loss": 10}, lateness=capped)
    assert low.before_late == 10 and low.total == 10


def test_the_pass_mark_is_configurable():
    rubric = cw_rubric(late_policy={"kind": "cap", "cap_fraction": 0.4, "cap_working_days": 3})
    assert coursework_total(rubric, FULL_AUTO, MARKED, lateness=cap_lateness(60, 3, rubric.late_policy)).total == 40
    assert coursework_total(rubric, FULL_AUTO, MARKED, lateness=cap_lateness(9000, 4, rubric.late_policy)).total == 0


def test_policy_lateness_counts_working_days_from_the_students_deadline():
    deadline = london(2026, 10, 23, 16, 0)  # Friday, before the October change
    for sent, expected_days, capped in [
        (dt.datetime(2026, 10, 26, 15, 30, tzinfo=UTC), 1, True),
        (london(2026, 10, 30, 16, 30), 6, False),  # the next Friday after 16:00: day 6, zero
    ]:
        verdict = policy_lateness(CAP, minutes=late_minutes(sent, deadline), received=sent, deadline=deadline)
        assert verdict.days == expected_days
        assert (verdict.cap_fraction == 0.5) is capped and verdict.zeroed is not capped


def test_a_cap_policy_cannot_also_take_a_per_day_fraction():
    with pytest.raises(ValidationError, match="cap late policy"):
        LatePolicy(kind="cap", per_day_fraction=0.1)
    assert LatePolicy().kind == "per_day"  # today's rubrics are unchanged


def test_cap_policy_needs_the_times():
    with pytest.raises(ValueError, match="receipt time"):
        policy_lateness(CAP, minutes=60)


# --- penalty waived -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lateness",
    [
        late_factor(3 * 1440, LatePolicy(per_day_fraction=0.1, max_days=7)),
        late_factor(30 * 1440, LatePolicy(per_day_fraction=0.1, max_days=7)),  # zeroed
        cap_lateness(60, 1, CAP),
        cap_lateness(9000, 9, CAP),
    ],
)
def test_a_waived_penalty_keeps_the_lateness_and_the_whole_mark(lateness):
    rubric = cw_rubric()
    forgiven = waived(lateness)
    assert forgiven.minutes == lateness.minutes and forgiven.days == lateness.days and forgiven.late
    assert forgiven.waived and not forgiven.penalised and forgiven.label == "late, penalty waived"
    total = coursework_total(rubric, FULL_AUTO, MARKED, lateness=forgiven)
    assert total.total == total.before_late == 80
    assert "penalty waived" in total.notes[0]


def test_waiving_on_time_work_changes_nothing():
    on_time = late_factor(0, LatePolicy())
    assert waived(on_time) is on_time and on_time.label == "on time"


def test_policy_lateness_waives_both_kinds():
    sent, deadline = london(2026, 3, 30, 17, 0), london(2026, 3, 27, 16, 0)
    minutes = late_minutes(sent, deadline)
    for policy in (CAP, LatePolicy(per_day_fraction=0.2, max_days=2)):
        verdict = policy_lateness(policy, minutes=minutes, received=sent, deadline=deadline, penalty_waived=True)
        assert verdict.waived and verdict.factor == 1.0 and verdict.minutes == minutes
