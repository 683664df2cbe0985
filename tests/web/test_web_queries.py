"""Queries after release on the dashboard: the student raises one from the feedback sheet and reads
the outcome there; the lecturer sets the window and answers (the mark changes through its history);
a GTA sees only their allocation's queries, by pseudonym under anonymous marking."""

from __future__ import annotations

import re

from sqlalchemy import select
from web_kit import grade, notebook, sign_in, upload

from grader.courseworks.models import Coursework
from grader.courseworks.service import release_coursework
from grader.marking.allocations import allocate, set_anonymous
from grader.marking.models import MarkChange
from grader.marking.query_models import MarkQuery

STAFF = "/staff/courseworks/cwa/queries"


def _graded_and_released(client, people, sessions) -> str:
    csrf = sign_in(client, "alice")
    reply = upload(client, csrf, notebook())
    assert reply.status_code == 303, reply.text
    sub_id = reply.headers["location"].rsplit("/", 1)[1]
    grade(sessions, client.app.state.courseworks["cwa"].rubric, sub_id)
    return sub_id


def _release(sessions, people) -> None:
    with sessions() as session:
        cw = session.scalars(select(Coursework).where(Coursework.code == "cwa")).one()
        release_coursework(session=session, coursework=cw, released_by_id=people.user_ids["lecturer"])


def test_a_student_queries_from_the_sheet_and_reads_the_answer_there(client, people, sessions):
    _graded_and_released(client, people, sessions)
    csrf = sign_in(client, "alice")
    raised = client.post("/courseworks/cwa/queries", data={"csrf_token": csrf, "item_id": "curves", "message": "hi"})
    assert raised.status_code == 404 and "not released" in raised.text  # before release: nothing
    _release(sessions, people)
    page = client.get("/courseworks/cwa/feedback")
    assert 'data-testid="query-form"' not in page.text and "not opened queries" in page.text

    csrf = sign_in(client, "lee")
    r = client.post(
        "/lecturer/courseworks/cwa/query-window", data={"csrf_token": csrf, "days": "10"}, follow_redirects=False
    )
    assert r.status_code == 303
    bad = client.post("/lecturer/courseworks/cwa/query-window", data={"csrf_token": csrf, "days": "ten"})
    assert bad.status_code == 400

    csrf = sign_in(client, "alice")
    page = client.get("/courseworks/cwa/feedback")
    assert 'data-testid="query-form"' in page.text and 'value="curves"' in page.text
    r = client.post(
        "/courseworks/cwa/queries",
        data={"csrf_token": csrf, "item_id": "curves", "message": "I plotted both losses in cell 12."},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].endswith("/feedback#queries")
    again = client.post("/courseworks/cwa/queries", data={"csrf_token": csrf, "item_id": "curves", "message": "?"})
    assert again.status_code == 409
    assert "Waiting for an answer" in client.get("/courseworks/cwa/feedback").text
    assert client.get(STAFF, follow_redirects=False).status_code in (303, 403)  # not a student's page

    csrf = sign_in(client, "lee")
    listing = client.get(STAFF)
    assert (
        listing.status_code == 200 and "I plotted both losses" in listing.text and "for the lecturers" in listing.text
    )
    with sessions() as session:
        query_id = session.scalars(select(MarkQuery.id)).one()
    too_high = client.post(
        f"/staff/queries/{query_id}/answer", data={"csrf_token": csrf, "answer": "yes", "score": "60"}
    )
    assert too_high.status_code == 400 and "between 0 and 6" in too_high.text
    r = client.post(
        f"/staff/queries/{query_id}/answer",
        data={"csrf_token": csrf, "answer": "Yes, both are there.", "score": "5"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    with sessions() as session:
        assert [(c.old_score, c.new_score) for c in session.scalars(select(MarkChange))] == [(None, 5)]

    sign_in(client, "alice")
    sheet = client.get("/courseworks/cwa/feedback").text
    assert "Answer: Yes, both are there." in sheet and "Your mark changed from 0 to 5 / 6." in sheet
    assert '<tr data-item="curves">' in sheet


def test_a_gta_sees_their_allocations_queries_by_pseudonym(client, people, sessions):
    _graded_and_released(client, people, sessions)
    with sessions() as session:
        cw = session.scalars(select(Coursework).where(Coursework.code == "cwa")).one()
        lee = people.user_ids["lecturer"]
        allocate(
            session=session,
            coursework_id=cw.id,
            student_id=people.student_ids["student"],
            marker_id=people.user_ids["gta"],
            by_user_id=lee,
        )
        set_anonymous(session=session, coursework_id=cw.id, anonymous=True, by_user_id=lee)
    _release(sessions, people)
    csrf = sign_in(client, "lee")
    client.post("/lecturer/courseworks/cwa/query-window", data={"csrf_token": csrf, "days": "3"})
    csrf = sign_in(client, "alice")
    r = client.post(
        "/courseworks/cwa/queries",
        data={"csrf_token": csrf, "item_id": "secret", "message": "Alice: is 1.1b right?"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    csrf = sign_in(client, "gina")
    page = client.get(STAFF)
    assert page.status_code == 200 and "for gina" in page.text and "is 1.1b right?" in page.text
    # Without the page's CSRF token: a random token contains "s1" about once in a hundred pages.
    shown = re.sub(r'(name="csrf_token" value|name="csrf-token" content)="[^"]*"', "", page.text)
    assert "Alice" not in shown and "s1" not in shown
    assert (
        client.post("/lecturer/courseworks/cwa/query-window", data={"csrf_token": csrf, "days": "9"}).status_code == 403
    )
    with sessions() as session:
        query_id = session.scalars(select(MarkQuery.id)).one()
    r = client.post(
        f"/staff/queries/{query_id}/answer", data={"csrf_token": csrf, "answer": "It stands."}, follow_redirects=False
    )
    assert r.status_code == 303
    sign_in(client, "alice")
    assert "Your mark stands: " in client.get("/courseworks/cwa/feedback").text
