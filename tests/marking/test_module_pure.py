"""The module mark's pure parts: reading an exam marks file, which courseworks count, one student's
marks from their courseworks' rows."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace

from grader.marking.cohort import CourseworkCell, assessed, student_marks
from grader.marking.exam_marks import ExamImportRefused, parse_exam_csv, parse_mark
from grader.marking.overview import OverviewRow


def test_a_good_file_reads_every_row_and_ignores_other_columns_and_blank_lines():
    rows, problems = parse_exam_csv("\ufeffName,External_ID,Mark\nAda,s1,70\n\nBen,s2, 55.5 \n")
    assert problems == []
    assert [(r.line, r.external_id, r.mark) for r in rows] == [(2, "s1", 70.0), (4, "s2", 55.5)]
    assert parse_exam_csv("external_id,exam_mark\ns1,0\ns2,100\n")[0][1].mark == 100


def test_every_bad_line_is_named():
    _, problems = parse_exam_csv("external_id,mark\ns1,nan\ns2,inf\ns1,50\n,40\ns3\ns4,100.01\n")
    assert problems == [
        "line 2: s1: the mark 'nan' is not a number from 0 to 100",
        "line 3: s2: the mark 'inf' is not a number from 0 to 100",
        "line 4: s1 appears again (first on line 2)",
        "line 5: no external id",
        "line 6: too few columns",
        "line 7: s4: the mark '100.01' is not a number from 0 to 100",
    ]


def test_a_file_without_the_columns_or_marks_is_refused():
    assert parse_exam_csv("")[1] == ["the file is empty: expected a header row with external_id and mark"]
    assert "must name the columns external_id and mark" in parse_exam_csv("id,score\ns1,5\n")[1][0]
    assert parse_exam_csv("external_id,mark\n")[1] == ["the file has a header but no marks"]


def test_parse_mark():
    assert [parse_mark(t) for t in ("0", "100", " 64.5 ", "-0.1", "1e3", "", "x", "NaN")] == [
        0.0,
        100.0,
        64.5,
        None,
        None,
        None,
        None,
        None,
    ]


def test_the_refusal_lists_every_problem():
    error = ExamImportRefused([f"line {n}: bad" for n in range(2, 300)])
    assert "nothing was stored" in str(error) and "and 98 more" in str(error) and len(error.problems) == 298


def _rubric(code: str, weight: float):
    return SimpleNamespace(weight=weight), SimpleNamespace(code=code, title=code)


def test_a_weight_0_coursework_never_counts():
    # Tutorials (weight 0) are not assessed: left out where the weights are gathered.
    pairs = [_rubric("tut1", 0.0), _rubric("cw2", 0.6), _rubric("cw1", 0.4)]
    assert [a.code for a in assessed(pairs)] == ["cw1", "cw2"]  # type: ignore[arg-type]


def _row(total: float | None, max_score: float, *, submitted: bool = True, complete: bool = True) -> OverviewRow:
    return OverviewRow(
        student_id=1,
        external_id="s1",
        name="Ada",
        status="graded" if total is not None else ("queued" if submitted else "no_submission"),
        submission_id=uuid.uuid4() if submitted else None,
        received_at=None,
        late_minutes=0,
        auto_score=None,
        marked=0,
        to_mark=0,
        total=total,
        max_score=max_score,
        complete=complete,
    )


def _student(withdrawn: bool = False):
    return SimpleNamespace(
        id=1,
        external_id="s1",
        name="Ada",
        email=None,
        withdrawn_at=dt.datetime(2099, 2, 1, tzinfo=dt.UTC) if withdrawn else None,
    )


WEIGHTS = {"cw1": 0.4, "cw2": 0.6}


def test_student_marks_from_their_rows():
    # CW1 15/20 = 75 %, CW2 not graded yet (counts 0 for now, and the marks are not complete):
    # coursework 0.4 x 75 = 30; exam 50 -> module 0.5 x 30 + 0.5 x 50 = 40.
    cells = [CourseworkCell("cw1", 0.4, _row(15, 20)), CourseworkCell("cw2", 0.6, _row(None, 50))]
    marks = student_marks(_student(), cells, WEIGHTS, 50.0)  # type: ignore[arg-type]
    assert (marks.coursework_mark, marks.module_mark, marks.complete) == (30.0, 40.0, False)
    assert (cells[0].percent, cells[0].weighted, cells[1].percent, cells[1].weighted) == (75.0, 30.0, None, 0.0)
    # No exam mark yet: no module mark.
    assert student_marks(_student(), cells, WEIGHTS, None).module_mark is None  # type: ignore[arg-type]


def test_a_non_submitter_is_complete_at_0_and_a_withdrawn_student_has_no_mark():
    cells = [
        CourseworkCell("cw1", 0.4, _row(None, 20, submitted=False)),
        CourseworkCell("cw2", 0.6, _row(None, 50, submitted=False)),
    ]
    marks = student_marks(_student(), cells, WEIGHTS, 35.0)  # type: ignore[arg-type]
    assert (marks.coursework_mark, marks.module_mark, marks.complete) == (0.0, 17.5, True)
    gone = student_marks(_student(withdrawn=True), [CourseworkCell("cw1", 0.4, None)], WEIGHTS, 35.0)  # type: ignore[arg-type]
    assert (gone.status, gone.coursework_mark, gone.module_mark, gone.exam_mark) == ("withdrawn", None, None, 35.0)
    assert gone.cells[0].status == "withdrawn" and gone.cells[0].weighted is None


def test_without_usable_weights_there_is_no_coursework_mark():
    cells = [CourseworkCell("cw1", 0.4, _row(15, 20))]
    assert student_marks(_student(), cells, None, 50.0).coursework_mark is None  # type: ignore[arg-type]
