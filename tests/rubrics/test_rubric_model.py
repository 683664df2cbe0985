from pathlib import Path

import pytest
from rubric_factory import make_rubric

from grader.rubrics.loader import RubricError, load_coursework, parse_rubric
from grader.settings import Settings


def test_points_must_add_up():
    with pytest.raises(ValueError, match="part '1' declares 6 points but its items add up to 5"):
        make_rubric(
            parts=[{"id": "1", "title": "L", "points": 6}, {"id": "2", "title": "D", "points": 4}],
            items=[
                {"id": "a", "part": "1", "title": "a", "points": 5, "manual": True},
                {"id": "d", "part": "2", "title": "d", "points": 4, "manual": True},
            ],
        )


def test_item_is_exactly_one_kind():
    with pytest.raises(ValueError, match="exactly one of"):
        make_rubric(
            items=[{"id": "a", "part": "1", "title": "a", "points": 6, "manual": True, "auto": {"tests": ["t.py::t"]}}]
        )


def test_errors_name_file_field_and_reason(tmp_path: Path):
    path = tmp_path / "rubric.yaml"
    path.write_text("coursework: cw9\ntitle: x\nweight: 2\n")
    with pytest.raises(RubricError) as exc:
        parse_rubric(path)
    text = str(exc.value)
    assert str(path) in text and "weight" in text and "less than or equal to 1" in text
    assert "submission" in text and "Field required" in text


def test_bad_yaml_and_bad_test_id(tmp_path: Path):
    path = tmp_path / "rubric.yaml"
    path.write_text("a: [unclosed\n")
    with pytest.raises(RubricError, match="not valid YAML"):
        parse_rubric(path)
    with pytest.raises(ValueError, match="not a test id"):
        make_rubric(items=[{"id": "a", "part": "1", "title": "a", "points": 6, "auto": {"tests": ["test_conv"]}}])


def test_unknown_coursework_lists_known_ones(tmp_path: Path):
    with pytest.raises(RubricError, match="no coursework 'cw9'; known: cw1"):
        load_coursework("cw9", Settings())


def test_sample_rubrics_load():
    cw = load_coursework("cw1", Settings())
    assert cw.rubric.weight == 0.4 and cw.hidden.is_dir()
    assert cw.rubric.auto_max_score > 0
