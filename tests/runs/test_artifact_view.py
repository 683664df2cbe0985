"""Which item an artifact belongs to (from the test that drew it) and which artifacts a reader sees."""

from __future__ import annotations

from rubric_factory import make_rubric

from grader.runs.artifact_view import artifacts_for_reader, item_for_test
from grader.runs.models import GradingRun, RunArtifact, RunItemScore

ITEMS = [
    {
        "id": "shown",
        "part": "1",
        "title": "Shown",
        "points": 2,
        "visibility": "visible",
        "auto": {"tests": ["test_a.py::test_shown", "test_a.py::test_shared"]},
    },
    {
        "id": "later",
        "part": "1",
        "title": "Later",
        "points": 2,
        "visibility": "after_release",
        "suggest": {"tests": ["test_a.py::test_later"]},
    },
    {
        "id": "secret",
        "part": "1",
        "title": "Secret",
        "points": 2,
        "visibility": "hidden",
        "auto": {"tests": ["test_a.py::test_secret", "test_a.py::test_shared"]},
    },
    {"id": "essay", "part": "2", "title": "Essay", "points": 4, "manual": True},
]


def test_an_artifact_goes_to_the_item_its_test_scores_and_of_several_to_the_one_shown_least():
    rubric = make_rubric(
        parts=[{"id": "1", "title": "Auto", "points": 6}, {"id": "2", "title": "Hand", "points": 4}], items=ITEMS
    )
    assert item_for_test(rubric, "test_a.py::test_shown") == "shown"
    assert item_for_test(rubric, "test_a.py::test_later") == "later"  # a suggested item's test too
    assert item_for_test(rubric, "test_a.py::test_shared") == "secret"  # never shown earlier than "secret"
    assert item_for_test(rubric, "test_rules.py::test_no_library") is None  # a penalty's: no item
    assert item_for_test(rubric, "test_a.py::test_unscored") is None
    assert item_for_test(rubric, None) is None  # drawn in a fixture


def _run() -> GradingRun:
    run = GradingRun(
        items=[
            RunItemScore(item_id=i, visibility=v)
            for i, v in (("shown", "visible"), ("later", "after_release"), ("secret", "hidden"))
        ]
    )
    run.artifacts = [
        RunArtifact(name=name, item_id=item)
        for name, item in (("a", "shown"), ("b", "later"), ("c", "secret"), ("d", None), ("e", "gone"))
    ]
    return run


def test_a_student_sees_visible_items_artifacts_then_after_release_ones_never_hidden_or_no_items():
    run = _run()
    names = lambda **kw: [a.name for a in artifacts_for_reader(run, **kw)]  # noqa: E731
    assert names(student_view=True, released=False) == ["a"]
    assert names(student_view=True, released=True) == ["a", "b"]
    assert names(student_view=False, released=False) == ["a", "b", "c", "d", "e"]  # markers: all of them
