"""Unassessed rubrics (weight 0, the tutorials): allowed, and refused with a clear message when they
would hold anything back or need a marker; the sample tutorial rubrics/tut1 loads as one."""

import pytest
from rubric_factory import make_rubric

from grader.rubrics.loader import load_coursework
from grader.settings import Settings
from grader.submissions.quota import hourly_limit

AUTO_ONLY = [
    {"id": "conv", "part": "1", "title": "Conv", "points": 6, "auto": {"tests": ["test_a.py::test_conv"]}},
    {"id": "pool", "part": "2", "title": "Pool", "points": 4, "auto": {"tests": ["test_a.py::test_pool"]}},
]


def tutorial(**overrides):
    return make_rubric(**{"weight": 0, "items": AUTO_ONLY, "penalties": [], **overrides})


def test_weight_zero_is_an_unassessed_rubric():
    assert tutorial().unassessed
    assert not make_rubric().unassessed
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        make_rubric(weight=-0.1)


@pytest.mark.parametrize("visibility", ["hidden", "after_release"])
def test_an_unassessed_rubric_shows_everything_at_once(visibility):
    items = [AUTO_ONLY[0], {**AUTO_ONLY[1], "visibility": visibility}]
    with pytest.raises(ValueError, match="shows everything at once: make these visible: pool"):
        tutorial(items=items)


def test_an_unassessed_rubric_needs_no_marker():
    items = [AUTO_ONLY[0], {"id": "essay", "part": "2", "title": "Essay", "points": 4, "manual": True}]
    with pytest.raises(ValueError, match=r"has no marker: .*essay"):
        tutorial(items=items)
    suggested = {"id": "lib", "title": "x", "points": 1, "suggest": {"tests": ["t.py::t"]}, "visibility": "visible"}
    with pytest.raises(ValueError, match=r"has no marker: .*lib"):
        tutorial(penalties=[suggested])
    # A penalty's default visibility is after_release: a tutorial's must say visible.
    auto = {"id": "lib", "title": "x", "points": 1, "auto": {"tests": ["t.py::t"]}}
    with pytest.raises(ValueError, match="make these visible: lib"):
        tutorial(penalties=[auto])
    assert tutorial(penalties=[{**auto, "visibility": "visible"}]).unassessed


def test_an_unassessed_rubric_has_no_late_penalty():
    with pytest.raises(ValueError, match="has no late penalty"):
        tutorial(late_policy={"per_day_fraction": 0.1})
    assert tutorial(deadline="2026-01-23T18:00:00", late_policy={"grace_minutes": 10}).unassessed


def test_the_upload_limit_is_the_tutorials_own_unless_the_rubric_names_one():
    assert hourly_limit(tutorial(), assessed=30, unassessed=60) == 60
    assert hourly_limit(make_rubric(), assessed=30, unassessed=60) == 30
    assert hourly_limit(tutorial(submissions_per_hour=5), assessed=30, unassessed=60) == 5


def test_the_sample_tutorial_loads_as_unassessed():
    cw = load_coursework("tut1", Settings())
    rubric = cw.rubric
    assert rubric.unassessed and rubric.weight == 0
    assert all(i.kind == "auto" and i.visibility.value == "visible" for i in rubric.items)
    assert rubric.auto_max_score == rubric.total_points == 10
    assert cw.solution.is_file() and cw.skeleton.is_file() and (cw.hidden / "conftest.py").is_file()
