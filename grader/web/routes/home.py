"""The start page: the courseworks, with what each role can do with them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from grader.courseworks.service import effective_deadline, is_released
from grader.http.deps import SessionDep
from grader.marking.sheet import submission_marks
from grader.web.deps import CurrentWebUser
from grader.web.lookups import courseworks
from grader.web.templating import render

router = APIRouter()


@router.get("/")
def home(request: Request, session: SessionDep, user: CurrentWebUser) -> Response:
    rows = []
    for ref in courseworks(request, session):
        row = {
            "code": ref.row.code,
            "title": ref.row.title,
            "weight": ref.row.weight,
            "deadline": ref.row.deadline,
            "timezone": ref.row.timezone,
            "released": ref.row.released_at is not None,
        }
        if user.student_id is not None:
            marks = submission_marks(
                session=session, rubric=ref.files.rubric, coursework=ref.row, student_id=user.student_id
            )
            row.update(
                status=marks.status,
                released=is_released(session=session, coursework=ref.row, student_id=user.student_id),
                deadline=effective_deadline(session=session, student_id=user.student_id, coursework_id=ref.row.id),
            )
        rows.append(row)
    return render(request, "home.html", {"courseworks": rows}, user=user)
