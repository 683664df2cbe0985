"""Small rubrics built in code for unit tests."""

from grader.rubrics.model import Rubric


def make_rubric(**overrides) -> Rubric:
    raw = {
        "coursework": "cwx",
        "title": "Test coursework",
        "weight": 0.4,
        "total_points": 10,
        "submission": {"notebook": "cwx.ipynb"},
        "mode": "full",
        "parts": [{"id": "1", "title": "Layers", "points": 6}, {"id": "2", "title": "Discussion", "points": 4}],
        "items": [
            {
                "id": "conv",
                "part": "1",
                "title": "Conv",
                "points": 4,
                "auto": {"tests": ["test_a.py::test_conv", "test_a.py::test_conv_stride"]},
            },
            {
                "id": "pool",
                "part": "1",
                "title": "Pool",
                "points": 2,
                "auto": {"tests": ["test_a.py::test_pool"], "partial": False},
            },
            {"id": "disc", "part": "2", "title": "Discussion", "points": 4, "manual": True},
        ],
        "penalties": [
            {"id": "lib", "title": "library layers", "points": 3, "auto": {"tests": ["test_rules.py::test_no_library"]}}
        ],
    }
    raw.update(overrides)
    return Rubric.model_validate(raw)
