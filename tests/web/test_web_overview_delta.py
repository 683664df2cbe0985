"""The overview's poll sends only the rows that changed since the page's cursor: a mark saved by
another marker shows up alone, nothing changed sends no row, and a cursor that is unknown, from
another view (anonymity switched on since) or missing gets every row. Over the real app
(TestClient) and in headless Chromium, where the page keeps its other rows as they are."""

from __future__ import annotations

import html as htmlib
import re
import time
import uuid

from sqlalchemy import select
from web_kit import grade, sign_in, upload

from grader.courseworks.service import coursework_by_code
from grader.marking.service import set_mark
from grader.submissions.models import Submission

ROW = re.compile(r'<tr data-student="([^"]+)"')


def graded(client, sessions, username: str) -> uuid.UUID:
    csrf = sign_in(client, username)
    assert upload(client, csrf, b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}').status_code == 303
    client.cookies.clear()
    with sessions() as s:
        sub = s.scalars(select(Submission).order_by(Submission.received_at.desc())).first()
    grade(sessions, client.app.state.courseworks["cwa"].rubric, sub.id)
    return sub.id


def another_marker_saves(sessions, people, sub_id: uuid.UUID, score: float) -> None:
    """Lee marks from elsewhere (another process, as far as the page can tell)."""
    with sessions() as s:
        set_mark(
            session=s,
            student_id=s.get_one(Submission, sub_id).student_id,
            coursework_id=coursework_by_code(session=s, code="cwa").id,
            item_id="curves",
            score=score,
            by_user_id=people.user_ids["lecturer"],
            expected_version=None,
            submission_id=sub_id,
        )


def poll(client, since: str, **params) -> dict:
    reply = client.get(
        "/staff/courseworks/cwa/rows", params={**params, "since": since}, headers={"X-Requested-With": "fetch"}
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_the_poll_sends_only_the_rows_changed_since_its_cursor(client, people, sessions):
    alice_sub = graded(client, sessions, "alice")
    sign_in(client, "gina")
    page = client.get("/staff/courseworks/cwa").text
    cursor = htmlib.unescape(re.search(r'data-cursor="([^"]*)"', page)[1])
    assert cursor.startswith("0-")  # names shown

    quiet = poll(client, cursor)
    assert quiet["full"] is False and quiet["html"] == "" and quiet["order"] == ["s1", "s2", "s3"]

    another_marker_saves(sessions, people, alice_sub, 5)
    delta = poll(client, quiet["cursor"])
    assert delta["full"] is False and ROW.findall(delta["html"]) == ["s1"] and "1 / 2" in delta["html"]
    assert poll(client, delta["cursor"])["html"] == ""  # seen: not sent again
    # The order names every shown row as the view sorts and filters them.
    assert poll(client, delta["cursor"], sort="total", desc=1)["order"][0] == "s1"  # the only total
    assert poll(client, cursor, status="graded")["order"] == ["s1"]

    for unusable in ("", "garbage", "0-1:2:", "1-" + delta["cursor"][2:], "0-99999999999:99999999999:"):
        full = poll(client, unusable)
        assert full["full"] is True and ROW.findall(full["html"]) == ["s1", "s2", "s3"], unusable
    assert "No student matches" in poll(client, delta["cursor"], q="nobody at all")["html"]

    # Anonymity switched on: the GTA's cursor was for names, so every row again, as pseudonyms.
    lee = sign_in(client, "lee")
    assert (
        client.post(
            "/lecturer/courseworks/cwa/anonymous",
            data={"anonymous": "1"},
            headers={"X-CSRF-Token": lee, "X-Requested-With": "fetch"},
            follow_redirects=False,
        ).status_code
        == 303
    )
    sign_in(client, "gina")
    hidden = poll(client, delta["cursor"])
    assert hidden["full"] is True and hidden["cursor"].startswith("1-")
    assert not {"s1", "s2", "s3", "Alice", "Bob", "Carol"} & set(re.findall(r"[A-Z]?\w+", hidden["html"]))
    assert all(key.startswith("Candidate ") for key in hidden["order"])


def test_the_page_swaps_in_the_changed_row_and_keeps_the_others(client, people, sessions, page):
    alice_sub = graded(client, sessions, "alice")
    from test_web_marking_browser import browser_sign_in

    browser_sign_in(page, "gina")
    answers: list[dict] = []
    page.on("response", lambda r: answers.append(r.json()) if "/staff/courseworks/cwa/rows" in r.url else None)
    page.goto("/staff/courseworks/cwa")
    page.evaluate("window.bobRow = document.querySelector('tr[data-student=\"s2\"]')")
    another_marker_saves(sessions, people, alice_sub, 5)
    progress = page.locator('tr[data-student="s1"] [data-testid="progress"]')
    deadline = time.monotonic() + 20
    while progress.inner_text() != "1 / 2" and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert progress.inner_text() == "1 / 2"  # no reload
    assert page.evaluate("window.bobRow === document.querySelector('tr[data-student=\"s2\"]')")  # kept, not redrawn
    assert any(a["full"] is False and ROW.findall(a["html"]) == ["s1"] for a in answers)
    assert page.locator("tbody[data-rows] tr[data-student]").count() == 3
