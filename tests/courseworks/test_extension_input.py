"""Reading new deadlines and extension CSVs (pure): relative minutes, instants, local wall times
across the clock changes, and a bad file refused line by line."""

import datetime as dt

import pytest

from grader.courseworks.extension_csv import CourseworkClock, plan_import
from grader.courseworks.extension_spec import BadDeadline, parse_deadline

UTC = dt.UTC
# Friday 27 March 2026 16:00 GMT: the clocks go forward two days later (Sunday 29 March, 01:00).
MARCH = dt.datetime(2026, 3, 27, 16, 0, tzinfo=UTC)
# Friday 23 October 2026 16:00 BST: the clocks go back on Sunday 25 October (02:00 BST -> 01:00 GMT).
OCTOBER = dt.datetime(2026, 10, 23, 15, 0, tzinfo=UTC)


def parse(text: str, deadline: dt.datetime | None = MARCH) -> dt.datetime:
    return parse_deadline(text, coursework_deadline=deadline, tz="Europe/London")


@pytest.mark.parametrize(
    "text, minutes", [("+90", 90), ("+90 minutes", 90), ("+ 3 hours", 180), ("+2 days", 2880), ("+1 min", 1)]
)
def test_relative_extensions_count_real_time_from_the_coursework_deadline(text, minutes):
    assert parse(text) == MARCH + dt.timedelta(minutes=minutes)


def test_a_local_wall_time_is_read_in_the_courseworks_timezone_across_the_change():
    assert parse("2026-03-30 16:00") == dt.datetime(2026, 3, 30, 15, 0, tzinfo=UTC)  # BST by then
    assert parse("2026-10-26T16:00", OCTOBER) == dt.datetime(2026, 10, 26, 16, 0, tzinfo=UTC)  # GMT by then


def test_an_instant_with_an_offset_is_kept():
    assert parse("2026-03-30T16:00:00+01:00") == dt.datetime(2026, 3, 30, 15, 0, tzinfo=UTC)
    assert parse("2026-03-30T16:00:00Z") == dt.datetime(2026, 3, 30, 16, 0, tzinfo=UTC)


def test_a_wall_time_the_clocks_skip_is_refused():
    with pytest.raises(BadDeadline, match="does not exist"):
        parse("2026-03-29 01:30")


def test_a_wall_time_the_clocks_repeat_means_the_later_one():
    assert parse("2026-10-25 01:30", OCTOBER) == dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # the GMT 01:30


@pytest.mark.parametrize("text", ["", "tomorrow", "+", "+0", "+5 weeks", "2026-13-01 10:00", "-30"])
def test_unreadable_deadlines_are_refused(text):
    with pytest.raises(BadDeadline):
        parse(text)


def test_an_extension_before_the_deadline_or_without_one_is_refused():
    with pytest.raises(BadDeadline, match="only move the deadline later"):
        parse("2026-03-27 15:00")
    with pytest.raises(BadDeadline, match="no deadline"):
        parse("+60", None)


CLOCKS = {"cw1": CourseworkClock(MARCH, "Europe/London"), "cw2": CourseworkClock(OCTOBER, "Europe/London")}
ROSTER = {"s1", "s2", "s3"}


def test_a_good_file_plans_every_line():
    text = (
        "external_id,coursework,deadline,reason\n"
        "s1,cw1,+1440,illness\n"
        "s2,cw2,2026-10-26 16:00,\n"
        "\n"
        's3,cw1,"2026-03-30T12:00:00+01:00","bereavement, family"\n'
        "s1,cw2,+2 days\n"
    )
    plan = plan_import(text, students=ROSTER, courseworks=CLOCKS)
    assert plan.ok, plan.problems
    got = [(p.line, p.external_id, p.coursework, p.deadline, p.reason) for p in plan.extensions]
    assert got == [
        (2, "s1", "cw1", MARCH + dt.timedelta(days=1), "illness"),
        (3, "s2", "cw2", dt.datetime(2026, 10, 26, 16, 0, tzinfo=UTC), ""),
        (5, "s3", "cw1", dt.datetime(2026, 3, 30, 11, 0, tzinfo=UTC), "bereavement, family"),
        (6, "s1", "cw2", OCTOBER + dt.timedelta(days=2), ""),
    ]


def test_a_bad_file_names_every_bad_line_and_plans_nothing():
    text = (
        "s1,cw1,+60,ok\n"
        "s9,cw1,+60,unknown student\n"
        "s2,cw9,+60,unknown coursework\n"
        "s2,cw1,next week,unreadable\n"
        "s3,cw1,2026-03-29 01:30,skipped by the clocks\n"
        "s1,cw1,+90,twice\n"
        "s2,cw1\n"
    )
    plan = plan_import(text, students=ROSTER, courseworks=CLOCKS)
    assert not plan.ok and plan.extensions == []
    assert len(plan.problems) == 6, plan.problems
    line = dict(p.split(": ", 1) for p in plan.problems)
    assert "s9" in line["line 2"] and "roster" in line["line 2"]
    assert "cw9" in line["line 3"]
    assert "not a deadline" in line["line 4"]
    assert "does not exist" in line["line 5"]
    assert "also on line 1" in line["line 6"]
    assert "2 columns" in line["line 7"]


def test_an_empty_file_is_refused():
    assert plan_import("external_id,coursework,deadline,reason\n", students=ROSTER, courseworks=CLOCKS).problems
