"""A rubric's fallback queue: ``fallback_queue`` and ``fallback_after`` (a duration as a lecturer
writes it) go together, and name another queue."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from grader.rubrics.model import Resources


@pytest.mark.parametrize(("written", "seconds"), [("15m", 900), ("90s", 90), ("1h", 3600), (600, 600), ("2.5m", 150)])
def test_fallback_after_reads_a_duration(written, seconds):
    res = Resources(queue="gpu", gpu=True, fallback_queue="cpu", fallback_after=written)
    assert res.fallback_after == seconds


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"fallback_queue": "cpu"}, "go together"),
        ({"fallback_after": "15m"}, "go together"),
        ({"fallback_queue": "gpu", "fallback_after": "15m"}, "the queue itself"),
        ({"fallback_queue": "cpu", "fallback_after": "soon"}, "is not a duration"),
        ({"fallback_queue": "cpu", "fallback_after": "-5m"}, "greater than 0"),
        ({"fallback_queue": "tpu", "fallback_after": "5m"}, "'cpu' or 'gpu'"),
    ],
)
def test_a_fallback_that_cannot_work_is_refused(fields, says):
    with pytest.raises(ValidationError, match=says):
        Resources(queue="gpu", gpu=True, **fields)


def test_no_fallback_by_default():
    res = Resources(queue="gpu", gpu=True)
    assert res.fallback_queue is None and res.fallback_after is None
