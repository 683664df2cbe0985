"""Queries in real headless Chromium: the student raises one from the feedback sheet's form, the
lecturer answers it with a new score on the queries page, and the student's sheet shows the outcome
and the new total. Screenshots: tests/artifacts/screenshots/queries-*.png."""

from __future__ import annotations

from sqlalchemy import select
from web_kit import PASSWORD, grade, notebook, sign_in, upload

from grader.courseworks.models import Coursework
from grader.courseworks.service import release_coursework
from grader.marking.queries import set_window


def _browser_sign_in(page, username: str, next_path: str) -> None:
    page.goto(next_path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=whoami]")


def test_a_query_from_the_sheet_answered_on_the_queries_page(
    page, browser, client, people, sessions, screenshots, live_server
):
    csrf = sign_in(client, "alice")  # the upload through the dashboard's form, graded in the gradebook
    sub_id = upload(client, csrf, notebook()).headers["location"].rsplit("/", 1)[1]
    grade(sessions, client.app.state.courseworks["cwa"].rubric, sub_id)
    with sessions() as session:
        cw = session.scalars(select(Coursework).where(Coursework.code == "cwa")).one()
        release_coursework(session=session, coursework=cw, released_by_id=people.user_ids["lecturer"])
        set_window(session=session, coursework=cw, days=14, by_user_id=people.user_ids["lecturer"])

    _browser_sign_in(page, "alice", "/courseworks/cwa/feedback")
    before = page.inner_text("[data-testid=cw-total]")
    page.select_option("[data-testid=query-item]", "design")
    page.fill("[data-testid=query-message]", "The design section is on page two.")
    page.click("[data-testid=query-send]")
    page.wait_for_selector("[data-testid=query]")
    assert "Waiting for an answer" in page.inner_text("[data-testid=queries]")

    lecturer = browser.new_context(base_url=live_server).new_page()
    _browser_sign_in(lecturer, "lee", "/staff/courseworks/cwa/queries")
    assert "The design section is on page two." in lecturer.inner_text("[data-testid=query]")
    lecturer.fill("[data-testid=answer-text]", "Found it: well argued.")
    lecturer.fill("[data-testid=answer-score]", "3")
    lecturer.click("[data-testid=answer-send]")
    lecturer.wait_for_selector("[data-testid=no-queries]")
    lecturer.screenshot(path=str(screenshots / "queries-lecturer.png"), full_page=True)

    page.reload()
    assert page.inner_text("[data-testid=query-answer]") == "Answer: Found it: well argued."
    assert page.inner_text("[data-testid=query-outcome]") == "Your mark changed from 0 to 3 / 4."
    assert page.inner_text("[data-testid=cw-total]") != before
    page.screenshot(path=str(screenshots / "queries-student.png"), full_page=True)
