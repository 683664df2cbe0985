"""The start page: the courseworks, with what each role can do with them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from grader.courseworks.service import effective_deadline, is_released
from grader.http.deps import SessionDep
from grader.marking.sheet import submission_marks
from grader.scoring.lateness import to_utc
from grader.web.deps import CurrentWebUser
from grader.web.lookups import courseworks
from grader.web.templating import render

router = APIRouter()


@router.get("/")
def home(request: Request, session: SessionDep, user: CurrentWebUser) -> Response:
    rows: list[dict[str, Any]] = []
    tutorials: list[dict[str, Any]] = []
    for ref in courseworks(request, session):
        rubric = ref.files.rubric
        row = {
            "code": ref.row.code,
            "title": ref.row.title,
            "weight": ref.row.weight,
            "deadline": ref.row.deadline,
            "timezone": ref.row.timezone,
            "released": ref.row.released_at is not None,
        }
        if rubric.unassessed:  # a soft deadline, from the rubric: the gradebook holds none
            row["deadline"] = to_utc(rubric.deadline, rubric.timezone) if rubric.deadline else None
        if user.student_id is not None:
            marks = submission_marks(session=session, rubric=rubric, coursework=ref.row, student_id=user.student_id)
            row.update(
                status=marks.status,
                released=is_released(session=session, coursework=ref.row, student_id=user.student_id),
            )
            if rubric.unassessed:  # feedback at once: the latest graded submission's score
                graded = marks.run is not None and marks.total is not None
                row["score"] = (marks.total.total, marks.total.max_score) if graded and marks.total else None
            else:
                row["deadline"] = effective_deadline(
                    session=session, student_id=user.student_id, coursework_id=ref.row.id
                )
        (tutorials if rubric.unassessed else rows).append(row)
    return render(request, "home.html", {"courseworks": rows, "tutorials": tutorials}, user=user)
