"""The roster page's erasure form (grader.web.routes.roster): a lecturer erases a withdrawn student's
data from their row, through the same domain function as ``POST /api/v1/roster/{id}/erasure``;
refusals show the page again with the problem and change nothing. The real app over Postgres and
the local blob store; the page in real Chromium under axe."""

from __future__ import annotations

import datetime as dt

from a11y_kit import axe_problems, install_axe
from sqlalchemy import func, select, update
from web_kit import PASSWORD, grade, notebook, sign_in, upload

from grader.audit.models import AuditEvent
from grader.audit.service import record_event
from grader.roster.models import Student
from grader.submissions.models import Submission
from grader.users.models import User


def _post(client, csrf: str, external_id: str, **form):
    return client.post(f"/lecturer/roster/{external_id}/erase", data={"csrf_token": csrf, **form})


def _counts(sessions) -> tuple[int, int, int]:
    """(students on the roster, submissions, accounts)."""
    with sessions() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(t)) for t in (Student, Submission, User)
        )


def test_a_lecturer_erases_a_withdrawn_students_data_from_the_roster(client, people, sessions):
    data = notebook("print('the same bytes')")
    for username in ("alice", "bob"):  # the same file: one blob, shared
        csrf = sign_in(client, username)
        reply = upload(client, csrf, data)
        assert reply.status_code == 303, reply.text
        grade(sessions, client.app.state.courseworks["cwa"].rubric, reply.headers["location"].rsplit("/", 1)[1])
    csrf = sign_in(client, "lee")
    page = client.get("/lecturer/roster")
    assert page.status_code == 200 and 'data-testid="erase"' not in page.text  # nobody withdrawn yet
    before = _counts(sessions)

    enrolled = _post(client, csrf, "s1", reason="asked", confirm="s1")
    assert enrolled.status_code == 409 and "withdraw them first" in enrolled.text
    assert 'data-testid="roster"' in enrolled.text  # the page again, with the problem
    assert _counts(sessions) == before

    reply = client.post(
        "/lecturer/roster/withdraw", data={"csrf_token": csrf, "external_id": "s1"}, follow_redirects=False
    )
    assert reply.status_code == 303
    page = client.get("/lecturer/roster")
    assert page.text.count('data-testid="erase"') == 1 and 'action="/lecturer/roster/s1/erase"' in page.text

    for form, status, problem in [
        ({"reason": "asked", "confirm": "s2"}, 422, "Type the student&#39;s id, s1"),
        ({"reason": "asked", "confirm": ""}, 422, "confirmation field"),
        ({"reason": "  ", "confirm": "s1"}, 422, "Say why the data is erased"),
    ]:
        refused = _post(client, csrf, "s1", **form)
        assert refused.status_code == status and problem in refused.text, (form, refused.text[-3000:])
        assert 'data-testid="erase-error"' in refused.text and '<details class="erase" data-testid="erase" open>' in (
            refused.text
        )
        if form["reason"].strip():
            assert 'value="asked"' in refused.text  # what was typed is kept
    unknown = _post(client, csrf, "zz", reason="asked", confirm="zz")
    assert unknown.status_code == 404 and "No student &#39;zz&#39; on the roster" in unknown.text
    no_csrf = client.post("/lecturer/roster/s1/erase", data={"reason": "asked", "confirm": "s1"})
    assert no_csrf.status_code in (400, 403)
    assert _counts(sessions) == before

    with sessions() as s:  # sign-ons refused by alice's email, and at her account (grader.web.routes.sso)
        record_event(
            session=s,
            actor_id=None,
            action="sign_on.refused",
            subject_type="sign_on",
            subject_id="alice@example.ac.uk",
            details={"reason": "x"},
        )
        record_event(
            session=s,
            actor_id=None,
            action="sign_on.refused",
            subject_type="user",
            subject_id=people.user_ids["student"],
            details={"reason": "y", "identity": "alice@example.ac.uk"},
        )
        record_event(
            session=s,
            actor_id=None,
            action="sign_on.refused",
            subject_type="sign_on",
            subject_id="bob@example.ac.uk",
            details={"reason": "z"},
        )
        s.commit()
    done = _post(client, csrf, "s1", reason="asked to be forgotten", confirm="s1")
    assert done.status_code == 200, done.text
    assert "s1&#39;s data is erased (request)" in done.text and 'data-student="s1"' not in done.text
    assert "1 stored files kept" in done.text  # bob's copy of the same bytes
    students, submissions, accounts = _counts(sessions)
    assert (students, submissions, accounts) == (before[0] - 1, before[1] - 1, before[2] - 1)
    with sessions() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "student.erase")).one()
        assert event.actor_id == people.user_ids["lecturer"]
        assert event.details["reason"] == "asked to be forgotten"
        assert s.scalars(select(User.username).where(User.username == "alice")).first() is None
        left = s.scalars(select(AuditEvent.subject_id).where(AuditEvent.action == "sign_on.refused")).all()
        assert left == ["bob@example.ac.uk"]
    again = _post(client, csrf, "s1", reason="asked", confirm="s1")
    assert again.status_code == 404  # a repeated POST (a reload) erases nothing more


def test_the_erasure_form_passes_axe_and_shows_its_problem(browser, live_server, people, sessions, screenshots):
    with sessions() as s:
        s.execute(update(Student).where(Student.external_id == "s2").values(withdrawn_at=dt.datetime.now(dt.UTC)))
        s.commit()
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    install_axe(context)
    try:
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Username").fill("lee")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("[data-testid=whoami]")
        page.goto("/lecturer/roster")
        page.get_by_text("Erase s2's data").first.click()  # the summary opens the form
        assert axe_problems(page) == []
        page.get_by_label("Reason (kept in the audit log)").fill("asked")
        page.get_by_label("Type s2 to confirm").fill("s1")
        page.get_by_role("button", name="Erase s2's data").click()
        page.wait_for_selector("[data-testid=erase-error]")
        assert "Type the student's id, s2" in page.inner_text("[data-testid=erase-error]")
        assert page.get_by_label("Reason (kept in the audit log)").input_value() == "asked"
        assert axe_problems(page) == []
        page.screenshot(path=str(screenshots / "roster-erasure-refused.png"), full_page=True)
    finally:
        context.close()
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Student).where(Student.external_id == "s2")) == 1
