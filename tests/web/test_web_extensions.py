"""The lecturer's extensions page (over HTTP): grant, change, revoke, waive a late penalty, import a
CSV (refused whole with a per-line report); the student sees their own deadline; the markers'
overview shows "late, penalty waived"; reasons stay hidden from GTAs under anonymous marking."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from web_kit import grade, notebook, sign_in, upload

from grader.courseworks.models import Coursework, DeadlineExtension
from grader.marking.allocations import set_anonymous

PAGE = "/lecturer/courseworks/cwa/extensions"


def _past_deadline(sessions) -> dt.datetime:
    when = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=2, hours=12)
    with sessions() as session:
        session.execute(update(Coursework).where(Coursework.code == "cwa").values(deadline=when))
        session.commit()
    return when


def test_lecturer_grants_and_revokes_and_the_student_sees_their_deadline(client, people, sessions):
    _past_deadline(sessions)
    csrf = sign_in(client, "lee")
    page = client.get(PAGE)
    assert page.status_code == 200 and "No extensions" in page.text
    r = client.post(
        PAGE,
        data={"csrf_token": csrf, "external_id": "s1", "deadline": "+3 days", "reason": "REASON-A flu"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get(PAGE)
    assert 'data-student="s1"' in page.text and "REASON-A flu" in page.text

    bad = client.post(PAGE, data={"csrf_token": csrf, "external_id": "s2", "deadline": "soonish"})
    assert bad.status_code == 400 and "not a deadline" in bad.text
    no_csrf = client.post(PAGE, data={"external_id": "s2", "deadline": "+60"}, follow_redirects=False)
    assert no_csrf.status_code in (400, 403)
    with sessions() as session:
        assert len(session.scalars(select(DeadlineExtension)).all()) == 1

    sign_in(client, "alice")
    own = client.get("/courseworks/cwa")
    assert 'data-testid="extended"' in own.text and "REASON" not in own.text
    sign_in(client, "bob")
    assert 'data-testid="extended"' not in client.get("/courseworks/cwa").text
    assert client.get(PAGE, follow_redirects=False).status_code in (303, 403)

    csrf = sign_in(client, "lee")
    r = client.post(f"{PAGE}/s1/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    with sessions() as session:
        assert session.scalars(select(DeadlineExtension)).all() == []


def test_a_bad_csv_is_refused_with_its_lines_and_stores_nothing(client, people, sessions):
    _past_deadline(sessions)
    csrf = sign_in(client, "lee")
    text = "s1,cwa,+60,ok\ns9,cwa,+60,x\ns2,cwa,2026-03-29 01:30,clock\n"
    r = client.post(f"{PAGE}/import", data={"csrf_token": csrf, "csv_text": text})
    assert r.status_code == 422
    assert "line 2" in r.text and "s9" in r.text and "line 3" in r.text and "does not exist" in r.text
    with sessions() as session:
        assert session.scalars(select(DeadlineExtension)).all() == []
    r = client.post(f"{PAGE}/import", data={"csrf_token": csrf, "csv_text": "s1,cwa,+60,ok\ns2,cwb,+1 day\n"})
    assert r.status_code == 200 or r.status_code == 303
    with sessions() as session:
        assert len(session.scalars(select(DeadlineExtension)).all()) == 2


def test_overview_shows_penalty_waived_and_hides_reasons_from_anonymous_gtas(client, people, sessions):
    _past_deadline(sessions)
    csrf = sign_in(client, "alice")
    sub_id = upload(client, csrf, notebook()).headers["location"].rsplit("/", 1)[1]
    grade(sessions, client.app.state.courseworks["cwa"].rubric, sub_id)

    csrf = sign_in(client, "lee")
    r = client.post(
        "/lecturer/courseworks/cwa/mitigations",
        data={"csrf_token": csrf, "external_id": "s1", "reason": "REASON-M hospital"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    overview = client.get("/staff/courseworks/cwa")
    assert "late, penalty waived" in overview.text

    sign_in(client, "gina")
    assert "late, penalty waived" in client.get("/staff/courseworks/cwa").text
    assert client.get(PAGE, follow_redirects=False).status_code in (303, 403)  # the lecturer's page
    with sessions() as session:
        cw = session.scalars(select(Coursework.id).where(Coursework.code == "cwa")).one()
        set_anonymous(session=session, coursework_id=cw, anonymous=True, by_user_id=people.user_ids["lecturer"])
    marking = client.get(f"/staff/submissions/{sub_id}")
    assert marking.status_code == 200 and "late, penalty waived" in marking.text
    assert "REASON-M" not in marking.text and "REASON-M" not in client.get("/staff/courseworks/cwa").text


def test_lecturer_extends_the_whole_cohort_from_the_page(client, people, sessions):
    deadline = _past_deadline(sessions)
    csrf = sign_in(client, "lee")
    page = client.get(PAGE)
    assert 'data-testid="cohort-extend"' in page.text
    bad = client.post(f"{PAGE}/cohort", data={"csrf_token": csrf, "deadline": "+2 hours", "reason": " "})
    assert bad.status_code == 400 and 'data-testid="cohort-problem"' in bad.text and "give a reason" in bad.text
    r = client.post(f"{PAGE}/cohort", data={"csrf_token": csrf, "deadline": "+3 days", "reason": "outage"})
    assert r.status_code == 200 and 'data-testid="cohort-done"' in r.text and "3 students extended" in r.text
    with sessions() as session:
        held = session.scalars(select(DeadlineExtension.deadline)).all()
    assert held == [deadline + dt.timedelta(days=3)] * 3
    sign_in(client, "alice")
    assert client.post(
        f"{PAGE}/cohort", data={"csrf_token": csrf, "deadline": "+9 days", "reason": "x"}
    ).status_code in (
        403,
        400,
    )
