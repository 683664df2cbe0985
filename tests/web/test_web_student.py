"""The student's pages: upload with a receipt, status, visible feedback before release, and the
feedback sheet after release laid out like the marking template."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select
from web_kit import grade, notebook, sign_in, upload

from grader.courseworks.models import Coursework
from grader.courseworks.service import release_coursework
from grader.marking.service import set_mark
from grader.submissions.models import Submission


def _submit(client, csrf: str, text: str = "print(1)") -> str:
    reply = upload(client, csrf, notebook(text))
    assert reply.status_code == 303, reply.text
    return reply.headers["location"].rsplit("/", 1)[1]


def test_upload_gives_a_receipt_and_queues_grading(client, people, sessions, woken):
    csrf = sign_in(client, "alice")
    data = notebook()
    before = len(woken)  # session-wide: the live server's wake-ups land here too
    reply = upload(client, csrf, data, key="k1")
    assert reply.status_code == 303
    page = client.get(reply.headers["location"])
    assert page.status_code == 200
    with sessions() as session:
        sub = session.scalars(select(Submission)).one()
    assert sub.original_filename == "cwa.ipynb" and sub.student_id == people.student_ids["student"]
    assert str(sub.id) in page.text and sub.sha256 in page.text
    assert 'data-testid="status">queued<' in page.text
    assert len(woken) - before == 2  # the pre-check and the full run
    # The same form sent twice (a double click) is one submission.
    again = upload(client, csrf, data, key="k1")
    assert again.status_code == 303 and again.headers["location"] == reply.headers["location"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 1


def test_a_bad_file_is_refused_with_a_clear_message_and_stores_nothing(client, people, sessions):
    csrf = sign_in(client, "alice")
    reply = upload(client, csrf, b"not a notebook")
    assert reply.status_code == 422
    assert "Your submission was not accepted" in reply.text
    reply = upload(client, csrf, notebook(), name="")
    assert reply.status_code in (400, 422)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 0


def test_status_is_polled_as_json_and_shows_only_visible_tests_before_release(client, people, sessions):
    csrf = sign_in(client, "alice")
    sub_id = _submit(client, csrf)
    status = client.get(f"/submissions/{sub_id}/status").json()
    assert status["status"] == "queued" and status["done"] is False
    grade(sessions, client.app.state.courseworks["cwa"].rubric, sub_id)
    status = client.get(f"/submissions/{sub_id}/status").json()
    assert status["status"] == "graded"
    html = status["html"]
    assert "Convolution shapes" in html and "shape (3, 3) expected" in html  # visible: score and message
    assert "Convolution values" in html and "later: half the values wrong" not in html  # after_release: name only
    assert "Held-out accuracy" not in html and "hidden expected" not in html  # hidden: nothing
    page = client.get("/courseworks/cwa").text
    assert "Convolution shapes" in page and "Held-out accuracy" not in page
    assert "Training curves" not in page  # manual items only after release
    assert client.get("/courseworks/cwa/feedback").status_code == 404


def test_feedback_sheet_after_release_is_laid_out_like_the_marking_template(client, people, sessions):
    csrf = sign_in(client, "alice")
    sub_id = _submit(client, csrf)
    rubric = client.app.state.courseworks["cwa"].rubric
    grade(sessions, rubric, sub_id)
    with sessions() as session:
        sub = session.get(Submission, uuid.UUID(sub_id))
        for item, score, comment in [
            ("curves", 5, "Clear curves; say why the test loss rises."),
            ("design", 3, "Good ablation."),
        ]:
            set_mark(
                session=session,
                student_id=sub.student_id,
                coursework_id=sub.coursework_id,
                item_id=item,
                score=score,
                comment=comment,
                by_user_id=people.user_ids["gta"],
                expected_version=None,
                submission_id=sub.id,
            )
        cw = session.scalars(select(Coursework).where(Coursework.code == "cwa")).one()
        release_coursework(session=session, coursework=cw, released_by_id=people.user_ids["lecturer"])
    page = client.get("/courseworks/cwa/feedback")
    assert page.status_code == 200
    html = page.text
    # Sections in order, each item with got / max, the markers' comments, part totals, the total.
    sections = re.findall(r'<td class="item-id">([^<]*)</td>', html)
    assert [s for s in sections if s] == ["1.1a", "1.1b", "2.1", "2.2"]
    assert "Clear curves; say why the test loss rises." in html and "Good ablation." in html
    assert "later: half the values wrong" in html  # after_release messages now shown
    assert "Held-out accuracy" in html and "hidden expected" not in html  # hidden: name and score only
    # shown 0.4 x 4 = 1.6, later 0.5 x 3 = 1.5, secret 0.6 x 3 = 1.8: part 1 = 4.9; part 2 = 5 + 3 = 8; total 12.9
    assert re.search(r'data-part="p1">.*?<td class="num">4.9</td><td class="num">10</td>', html, re.S)
    assert re.search(r'data-part="p2">.*?<td class="num">8</td><td class="num">10</td>', html, re.S)
    assert re.search(r'data-testid="cw-total">12.9 / 20<', html)
    # CW A counts 40 % of the coursework mark: 12.9 / 20 x 40 = 25.8; CW B is not released yet.
    assert re.search(r'data-testid="cw-mark">25.8 / 100<', html)
    assert "not released" in html
    assert '<link rel="stylesheet" href="/static/print.css" media="print">' in html


def test_a_student_sees_none_of_another_students_submissions(client, people, sessions):
    csrf = sign_in(client, "alice")
    sub_id = _submit(client, csrf)
    sign_in(client, "bob")
    for path in (f"/submissions/{sub_id}", f"/submissions/{sub_id}/status", "/submissions/not-a-uuid"):
        reply = client.get(path)
        assert reply.status_code == 404, path
        assert "no such submission" in reply.text
    assert sub_id not in client.get("/courseworks/cwa").text
