import pytest
from hypothesis import given
from hypothesis import strategies as st
from marks_factory import AUTO_ITEMS, MARKER_ITEMS, cw_rubric

from grader.rubrics.model import LatePolicy
from grader.scoring.auto import auto_marks
from grader.scoring.lateness import ON_TIME, Lateness, late_factor
from grader.scoring.outcomes import TestOutcome, TestResult
from grader.scoring.totals import auto_inputs, coursework_total

RUBRIC = cw_rubric()
POINTS = {i.id: i.points for i in RUBRIC.items}
FULL_AUTO = {i: POINTS[i] for i in AUTO_ITEMS}


def test_auto_plus_manual_with_part_totals_like_the_marked_sheet():
    t = coursework_total(RUBRIC, FULL_AUTO, {"vae_disc": 17, "gan_images": 8, "gan_disc": 19})
    assert t.items_score == 94 and t.total == 94 and t.max_score == 100
    assert [(p.id, p.score, p.max_score) for p in t.parts] == [("1", 47, 50), ("2", 47, 50)]
    assert t.complete


def test_override_wins_over_auto_and_keeps_the_auto_score():
    t = coursework_total(RUBRIC, {"vae_layers": 12}, {"vae_layers": 18})
    line = next(i for i in t.items if i.id == "vae_layers")
    assert (line.score, line.source, line.auto_score) == (18, "override", 12)


def test_manual_and_suggested_count_zero_until_marked():
    t = coursework_total(RUBRIC, FULL_AUTO)
    sources = {i.id: i.source for i in t.items}
    assert {sources[i] for i in MARKER_ITEMS} == {"unmarked"}
    assert t.total == 50 and not t.complete


def test_auto_item_without_a_result_is_pending():
    t = coursework_total(RUBRIC, {})
    assert {i.source for i in t.items if i.id in AUTO_ITEMS} == {"pending"}
    assert t.total == 0


def test_auto_scores_for_manual_items_are_ignored():
    # auto_marks reports every item; a manual one's 0 there must not count as a mark.
    t = coursework_total(RUBRIC, {**FULL_AUTO, "vae_disc": 0.0})
    assert next(i for i in t.items if i.id == "vae_disc").source == "unmarked"


def test_auto_penalty_applies_and_a_marker_can_waive_it():
    applied = coursework_total(RUBRIC, FULL_AUTO, auto_penalties={"gan_params"})
    assert applied.total == 49 and applied.penalty_points == 1
    waived = coursework_total(RUBRIC, FULL_AUTO, auto_penalties={"gan_params"}, penalty_decisions={"gan_params": False})
    line = next(p for p in waived.penalties if p.id == "gan_params")
    assert waived.total == 50 and line.waived and line.marker_decided and not line.applied


def test_marker_decided_penalty():
    t = coursework_total(RUBRIC, FULL_AUTO, penalty_decisions={"no_transforms": True})
    line = next(p for p in t.penalties if p.id == "no_transforms")
    assert t.total == 49 and line.applied and not line.auto_applied


def test_clamped_at_zero():
    t = coursework_total(RUBRIC, {"vae_loss": 10}, auto_penalties={"no_load"})
    assert t.items_score == 10 and t.penalty_points == 60 and t.before_late == 0 and t.total == 0


def test_late_policy_applies_after_penalties_and_clamp():
    lateness = late_factor(25 * 60, LatePolicy(grace_minutes=15, per_day_fraction=0.1, max_days=7))
    t = coursework_total(RUBRIC, FULL_AUTO, auto_penalties={"gan_params"}, lateness=lateness)
    assert t.before_late == 49 and t.total == pytest.approx(39.2)  # (50 - 1) x 0.8
    assert "2 started days" in t.notes[0]


def test_from_a_grading_run():
    passed, failed = TestResult(TestOutcome.passed, 1.0), TestResult(TestOutcome.failed, 0.0)
    tests = {
        "t.py::a": passed,
        "t.py::b": failed,
        "t.py::c": passed,
        "t.py::d": passed,
        "t.py::params": failed,
        "t.py::load": passed,
    }
    scores, penalties = auto_inputs(auto_marks(RUBRIC, tests))
    assert scores == {"vae_layers": 20, "vae_loss": 0, "gan_arch": 20} and penalties == {"gan_params"}
    assert coursework_total(RUBRIC, scores, auto_penalties=penalties).total == 39


@pytest.mark.parametrize(
    "kwargs",
    [
        {"auto_scores": {"nope": 1}},
        {"auto_scores": {}, "marker_scores": {"nope": 1}},
        {"auto_scores": {}, "auto_penalties": {"nope"}},
        {"auto_scores": {}, "penalty_decisions": {"nope": True}},
    ],
)
def test_unknown_ids_refused(kwargs):
    with pytest.raises(ValueError, match="nope"):
        coursework_total(RUBRIC, **kwargs)


@pytest.mark.parametrize("score", [-1, 20.5, float("nan")])
def test_marker_score_outside_the_item_refused(score):
    with pytest.raises(ValueError):
        coursework_total(RUBRIC, {}, {"vae_disc": score})


# --- properties ---------------------------------------------------------------------------------


def scores_for(ids):
    return st.fixed_dictionaries({}, optional={i: st.floats(0, POINTS[i]) for i in ids})


lateness = st.builds(
    lambda m, p: late_factor(m, p),
    st.integers(0, 20 * 24 * 60),
    st.builds(
        LatePolicy, grace_minutes=st.integers(0, 60), per_day_fraction=st.floats(0, 1), max_days=st.integers(0, 10)
    ),
)
penalty_ids = [p.id for p in RUBRIC.penalties]
inputs = st.fixed_dictionaries(
    {
        "auto_scores": scores_for(AUTO_ITEMS),
        "marker_scores": scores_for(AUTO_ITEMS + MARKER_ITEMS),
        "auto_penalties": st.sets(st.sampled_from([p.id for p in RUBRIC.penalties if p.auto])),
        "penalty_decisions": st.dictionaries(st.sampled_from(penalty_ids), st.booleans()),
        "lateness": lateness,
    }
)


@given(inputs)
def test_total_always_within_bounds(kw):
    t = coursework_total(RUBRIC, **kw)
    assert 0 <= t.total <= t.before_late <= t.max_score
    for part in t.parts:
        assert 0 <= part.score <= part.max_score


@given(inputs, st.sampled_from(AUTO_ITEMS + MARKER_ITEMS), st.floats(0, 1), st.booleans())
def test_more_points_on_any_item_never_lowers_the_total(kw, item, share, as_marker):
    # Raise the score that counts: a marker's (a new or higher override, a manual mark), else the run's.
    before = coursework_total(RUBRIC, **kw)
    current = next(i.score for i in before.items if i.id == item)
    higher = current + share * (POINTS[item] - current)
    by_marker = as_marker or item in MARKER_ITEMS or item in kw["marker_scores"]
    field = "marker_scores" if by_marker else "auto_scores"
    after = coursework_total(RUBRIC, **{**kw, field: {**kw[field], item: higher}})
    assert next(i.score for i in after.items if i.id == item) >= current
    assert after.total >= before.total


@given(inputs, st.sampled_from(penalty_ids))
def test_applying_a_penalty_never_raises_the_total(kw, penalty):
    without = coursework_total(RUBRIC, **{**kw, "penalty_decisions": {**kw["penalty_decisions"], penalty: False}})
    with_it = coursework_total(RUBRIC, **{**kw, "penalty_decisions": {**kw["penalty_decisions"], penalty: True}})
    assert with_it.total <= without.total
    assert with_it.total <= coursework_total(RUBRIC, **{**kw, "lateness": ON_TIME}).before_late


@given(inputs, st.integers(0, 30 * 24 * 60), st.integers(0, 30 * 24 * 60))
def test_later_submission_never_raises_the_late_adjusted_total(kw, m1, m2):
    policy = LatePolicy(grace_minutes=15, per_day_fraction=0.1, max_days=7)
    early, late = sorted([m1, m2])
    a = coursework_total(RUBRIC, **{**kw, "lateness": late_factor(early, policy)})
    b = coursework_total(RUBRIC, **{**kw, "lateness": late_factor(late, policy)})
    assert b.total <= a.total


def test_lateness_value_object_defaults():
    assert ON_TIME == Lateness(minutes=0, days=0, factor=1.0, zeroed=False) and not ON_TIME.late
