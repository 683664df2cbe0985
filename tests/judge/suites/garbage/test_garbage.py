"""Run against a runner that answers honestly until it puts garbage on the pipe (test_2)."""

from workers.judge.api import StudentError


def test_1_honest(student):
    assert student.run("y = a + 1", inputs={"a": 1}, outputs=["y"]) == {"y": 2}


def test_2_garbage(student):
    student.run("GARBAGE")


def test_3_would_pass(student):
    assert student.run("y = 2", outputs=["y"]) == {"y": 2}


def test_4_swallows_errors(student, credit):
    try:
        student.run("y = 2", outputs=["y"])
    except StudentError:
        pass
    credit.partial(1.0)


def test_5_submission_only(submission):
    assert "def " in submission.code
