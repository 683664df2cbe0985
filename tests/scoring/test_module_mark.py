import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from marks_factory import cw_rubric

from grader.scoring.module import Split, coursework_mark, module_mark, weights_from_rubrics

WEIGHTS = {"cw1": 0.4, "cw2": 0.6}


def test_weights_come_from_the_rubrics():
    rubrics = [cw_rubric(coursework="cw1", weight=0.4), cw_rubric(coursework="cw2", weight=0.6)]
    assert weights_from_rubrics(rubrics) == WEIGHTS


def test_rubric_weights_not_summing_to_one_refused():
    with pytest.raises(ValueError, match="sum to 1"):
        weights_from_rubrics([cw_rubric(coursework="cw1", weight=0.4), cw_rubric(coursework="cw2", weight=0.4)])


def test_same_coursework_twice_refused():
    with pytest.raises(ValueError, match="twice"):
        weights_from_rubrics([cw_rubric(coursework="cw1", weight=0.5), cw_rubric(coursework="cw1", weight=0.5)])


def test_real_marks_76_and_94():
    m = coursework_mark(WEIGHTS, {"cw1": (76, 100), "cw2": (94, 100)})
    assert m.mark == pytest.approx(86.8)
    assert [round(s.contribution, 6) for s in m.shares] == [30.4, 56.4]


def test_full_marks_are_exactly_100():
    assert coursework_mark(WEIGHTS, {"cw1": (100, 100), "cw2": (50, 50)}).mark == 100


def test_missing_coursework_counts_zero():
    m = coursework_mark(WEIGHTS, {"cw1": (76, 100)})
    assert m.mark == pytest.approx(30.4)
    assert m.shares[1].score is None and m.shares[1].contribution == 0


def test_total_for_an_unweighted_coursework_refused():
    with pytest.raises(ValueError, match="cw3"):
        coursework_mark(WEIGHTS, {"cw3": (1, 10)})


@pytest.mark.parametrize("total", [(-1, 100), (101, 100), (1, 0), (float("nan"), 100)])
def test_total_outside_its_max_refused(total):
    with pytest.raises(ValueError):
        coursework_mark(WEIGHTS, {"cw1": total})


def test_module_mark_half_and_half():
    assert module_mark(86.8, 60) == pytest.approx(73.4)


def test_module_mark_needs_an_exam_mark():
    assert module_mark(86.8, None) is None


def test_module_split_configurable_and_checked():
    assert module_mark(80, 40, Split(coursework=0.25, exam=0.75)) == 50
    with pytest.raises(ValueError):
        Split(coursework=0.6, exam=0.5)


@pytest.mark.parametrize("cw,exam", [(101, 50), (50, -1), (50, float("nan"))])
def test_module_marks_outside_0_100_refused(cw, exam):
    with pytest.raises(ValueError):
        module_mark(cw, exam)


# --- properties ---------------------------------------------------------------------------------

raw_weights = st.lists(st.floats(0.01, 1), min_size=1, max_size=6)


def normalised(ws):
    total = math.fsum(ws)
    return {f"cw{i}": w / total for i, w in enumerate(ws)}


@given(raw_weights)
def test_weights_summing_to_one_accepted(ws):
    coursework_mark(normalised(ws), {})


@given(raw_weights, st.floats(1e-6, 0.5), st.booleans())
def test_weights_not_summing_to_one_refused(ws, off, up):
    weights = {k: w * (1 + off if up else 1 - off) for k, w in normalised(ws).items()}
    assume(all(0 < w <= 1 for w in weights.values()))
    with pytest.raises(ValueError):
        coursework_mark(weights, {})


def totals_for(weights):
    maxima = st.floats(1, 200)
    return st.fixed_dictionaries(
        {}, optional={cw: maxima.flatmap(lambda mx: st.tuples(st.floats(0, mx), st.just(mx))) for cw in weights}
    )


@given(raw_weights.map(normalised).flatmap(lambda w: st.tuples(st.just(w), totals_for(w))))
def test_coursework_mark_within_0_100(case):
    weights, totals = case
    assert 0 <= coursework_mark(weights, totals).mark <= 100


@given(
    raw_weights.map(normalised).flatmap(lambda w: st.tuples(st.just(w), totals_for(w), st.sampled_from(sorted(w)))),
    st.floats(0, 1),
)
def test_more_on_a_coursework_never_lowers_the_mark(case, share):
    weights, totals, cw = case
    score, mx = totals.get(cw, (0.0, 100.0))
    higher = {**totals, cw: (score + share * (mx - score), mx)}
    assert coursework_mark(weights, higher).mark >= coursework_mark(weights, totals).mark


@given(st.floats(0, 100), st.floats(0, 100), st.floats(0, 1))
def test_module_mark_lies_between_its_parts(cw, exam, share):
    m = module_mark(cw, exam, Split(coursework=share, exam=1 - share))
    assert min(cw, exam) - 1e-4 <= m <= max(cw, exam) + 1e-4
