import pydantic
import pytest
from rubric_factory import make_rubric

from grader.scoring.auto import auto_marks
from grader.scoring.outcomes import ItemStatus, TestOutcome, TestResult

P = TestResult(TestOutcome.passed, 1.0)
F = TestResult(TestOutcome.failed, 0.0, "wrong output shape")


def outcomes(**kw):
    base = {
        "test_a.py::test_conv": P,
        "test_a.py::test_conv_stride": P,
        "test_a.py::test_pool": P,
        "test_rules.py::test_no_library": P,
    }
    base.update({k.replace("__", "::").replace("_py", ".py"): v for k, v in kw.items()})
    return base


def test_all_passing_earns_every_auto_point_and_manual_awaits():
    m = auto_marks(make_rubric(), outcomes())
    assert m.score == 6 and m.auto_max_score == 6 and m.max_score == 10
    disc = next(i for i in m.items if i.id == "disc")
    assert disc.status is ItemStatus.manual and disc.score == 0


def test_item_scores_mean_of_its_tests_and_keeps_first_failure_message():
    m = auto_marks(make_rubric(), outcomes(test_a_py__test_conv_stride=F))
    conv = next(i for i in m.items if i.id == "conv")
    assert conv.score == 2 and conv.status is ItemStatus.partial and conv.message == "wrong output shape"


def test_partial_credit_ignored_when_item_is_all_or_nothing():
    half = TestResult(TestOutcome.failed, 0.5)
    m = auto_marks(make_rubric(), outcomes(test_a_py__test_pool=half))
    assert next(i for i in m.items if i.id == "pool").score == 0


def test_partial_floor_counts_for_failed_test_in_partial_item():
    half = TestResult(TestOutcome.failed, 0.5, "bias missing")
    m = auto_marks(make_rubric(), outcomes(test_a_py__test_conv=half))
    assert next(i for i in m.items if i.id == "conv").score == 3


def test_timeout_and_error_statuses():
    m = auto_marks(make_rubric(), outcomes(test_a_py__test_pool=TestResult(TestOutcome.timeout)))
    assert next(i for i in m.items if i.id == "pool").status is ItemStatus.timeout
    m = auto_marks(make_rubric(), {})
    assert all(i.status in (ItemStatus.error, ItemStatus.manual) for i in m.items)


def test_penalty_applies_when_its_test_does_not_pass_and_total_is_clamped():
    m = auto_marks(make_rubric(), outcomes(test_rules_py__test_no_library=F))
    assert m.penalties[0].applied and m.score == 3
    m = auto_marks(make_rubric(), {"test_rules.py::test_no_library": F})
    assert m.score == 0  # never below zero


def test_part_totals():
    m = auto_marks(make_rubric(), outcomes(test_a_py__test_conv=F))
    assert [(p.id, p.score, p.max_score) for p in m.parts] == [("1", 4, 6), ("2", 0, 4)]


def test_passing_test_with_score_band_counts_band():
    band = TestResult(TestOutcome.passed, 0.25)
    m = auto_marks(make_rubric(), outcomes(test_a_py__test_conv=band, test_a_py__test_conv_stride=band))
    assert next(i for i in m.items if i.id == "conv").score == 1


def test_a_suggested_penalty_carries_its_evidence_to_the_marker_but_never_applies():
    rubric = make_rubric(
        penalties=[
            {
                "id": "runtime",
                "title": "library layers at run time",
                "points": 3,
                "suggest": {"tests": ["test_rules.py::test_runtime"]},
            }
        ]
    )
    failed = TestResult(TestOutcome.failed, 0.0, "Conv2d ran torch's own conv2d")
    m = auto_marks(rubric, {**outcomes(), "test_rules.py::test_runtime": failed})
    (p,) = m.penalties
    assert not p.applied and p.message == "suggested: Conv2d ran torch's own conv2d"
    assert m.score == auto_marks(rubric, outcomes()).score  # nothing deducted by the run
    # A check that could not run (an error) is no evidence: no suggestion.
    errored = TestResult(TestOutcome.error, 0.0, "your code raised ValueError")
    assert auto_marks(rubric, {**outcomes(), "test_rules.py::test_runtime": errored}).penalties[0].message == ""
    assert "test_rules.py::test_runtime" in rubric.test_ids()


def test_a_penalty_is_not_both_auto_and_suggested():
    spec = {"tests": ["test_rules.py::test_runtime"]}
    with pytest.raises(pydantic.ValidationError, match="not both auto and suggest"):
        make_rubric(penalties=[{"id": "p", "title": "p", "points": 1, "auto": spec, "suggest": spec}])
