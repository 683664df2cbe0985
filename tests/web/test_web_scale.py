"""Marking at scale over the real app (TestClient and headless Chromium, real Postgres): the
question view across students, the comment bank, allocations and the "my allocation" filter,
anonymous marking, and the lecturer's moderation sample."""

from __future__ import annotations

import re
import time
import uuid

import nbformat
from sqlalchemy import select, update
from web_kit import PASSWORD, give_password, grade, sign_in, upload

from grader.marking.models import ManualMark
from grader.marking.scale_models import CommentBankEntry, MarkingAllocation, ModerationPick
from grader.roster.models import Student
from grader.scoring.outcomes import TestOutcome, TestResult
from grader.submissions.models import Submission
from grader.users.models import Role
from grader.users.service import create_user

# auto: 0.4*4 + 3 + 0.6*3 = 6.4 of 10 (the hand-marked items make up the other 10 of 20).
RESULTS = {
    "test_a.py::test_shown": TestResult(TestOutcome.failed, 0.4, "shape (3, 3) expected, got (3, 4)"),
    "test_a.py::test_later": TestResult(TestOutcome.passed, 1.0, "later: all values right"),
    "test_a.py::test_secret": TestResult(TestOutcome.failed, 0.6, "secret: hidden expected [1, 2]"),
}


def answer_notebook(words: str) -> bytes:
    """A notebook answering 2.1 (curves) under its heading, and 2.2 (design) under another."""
    return nbformat.writes(
        nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_markdown_cell("# Part 2"),
                nbformat.v4.new_markdown_cell(f"## 2.1 Training curves\n{words}"),
                nbformat.v4.new_code_cell(
                    "plot_curves()",
                    execution_count=1,
                    outputs=[nbformat.v4.new_output("stream", name="stdout", text=f"epoch 8 {words}\n")],
                ),
                nbformat.v4.new_markdown_cell("## 2.2 Design choices\nWe used dropout."),
            ]
        )
    ).encode()


def add_student(sessions, username: str, external_id: str, name: str) -> int:
    with sessions() as s:
        user = create_user(session=s, username=username, name=name, role=Role.student)
        give_password(s, user)
        student = Student(external_id=external_id, name=name, user_id=user.id)
        s.add(student)
        s.commit()
        return student.id


def submit(client, sessions, username: str, words: str, data: bytes | None = None) -> uuid.UUID:
    csrf = sign_in(client, username)
    assert upload(client, csrf, data or answer_notebook(words)).status_code == 303
    with sessions() as s:
        sub = s.scalars(select(Submission).order_by(Submission.received_at.desc())).first()
    grade(sessions, client.app.state.courseworks["cwa"].rubric, sub.id, RESULTS)
    client.cookies.clear()
    return sub.id


def put(client, csrf: str, url: str, body: dict):
    return client.put(url, json=body, headers={"X-CSRF-Token": csrf, "X-Requested-With": "fetch"})


def post(client, csrf: str, url: str, data: dict | None = None):
    return client.post(url, data={"csrf_token": csrf, **(data or {})}, follow_redirects=False)


def answers(html: str) -> dict[str, str]:
    """data-student -> the answer's article."""
    return {
        m[1]: m[0]
        for m in re.finditer(r'<article class="card answer item" data-student="([^"]+)".*?</article>', html, re.S)
    }


def test_the_question_view_marks_one_item_across_students(client, people, sessions):
    alice = submit(client, sessions, "alice", "the loss rises after epoch 8")
    bob = submit(client, sessions, "bob", "both curves fall together")
    gina = sign_in(client, "gina")
    page = client.get("/staff/courseworks/cwa/items/curves")
    assert page.status_code == 200, page.text
    rows = answers(page.text)
    assert set(rows) == {"s1", "s2"}  # carol never submitted
    assert "the loss rises after epoch 8" in rows["s1"] and "epoch 8 the loss rises" in rows["s1"]
    assert "both curves fall together" in rows["s2"] and "We used dropout" not in rows["s2"]  # 2.2 is not 2.1
    assert f'data-url="/staff/submissions/{alice}/marks/curves"' in rows["s1"]
    assert "<script>" not in page.text

    for sub, score, comment in ((alice, 5, "spot on"), (bob, 2, "say why")):
        saved = put(
            client,
            gina,
            f"/staff/submissions/{sub}/marks/curves",
            {"score": score, "comment": comment, "expected_version": None},
        )
        assert saved.status_code == 200, saved.text
    lee = sign_in(client, "lee")
    assert (
        put(
            client,
            lee,
            f"/staff/submissions/{bob}/marks/curves",
            {"score": 3, "comment": "fairer", "expected_version": 1},
        ).status_code
        == 200
    )
    gina = sign_in(client, "gina")
    stale = put(
        client, gina, f"/staff/submissions/{bob}/marks/curves", {"score": 1, "comment": "", "expected_version": 1}
    )
    assert stale.status_code == 409 and stale.json()["current"]["score"] == 3
    assert stale.json()["current"]["updated_by"] == "lee"

    rows = answers(client.get("/staff/courseworks/cwa/items/curves").text)
    assert 'value="5"' in rows["s1"] and "spot on" in rows["s1"] and 'data-version="1"' in rows["s1"]
    assert 'value="3"' in rows["s2"] and "fairer" in rows["s2"] and 'data-version="2"' in rows["s2"]
    assert set(answers(client.get("/staff/courseworks/cwa/items/design", params={"unmarked": 1}).text)) == {"s1", "s2"}
    assert answers(client.get("/staff/courseworks/cwa/items/curves", params={"unmarked": 1}).text) == {}
    assert client.get("/staff/courseworks/cwa/items/shown").status_code == 400  # an auto item
    assert client.get("/staff/courseworks/cwa/items/nope").status_code == 404
    assert client.get("/staff/courseworks/nope/items/curves").status_code == 404
    overview = client.get("/staff/courseworks/cwa").text
    assert 'href="/staff/courseworks/cwa/items/curves"' in overview and "/items/shown" not in overview


def test_the_comment_bank_keeps_lists_and_drops_comments(client, people, sessions):
    alice = submit(client, sessions, "alice", "curves")
    gina = sign_in(client, "gina")
    url = "/staff/courseworks/cwa/items/curves/comments"
    headers = {"X-CSRF-Token": gina, "X-Requested-With": "fetch"}
    kept = client.post(url, json={"text": "  Label the axes.  "}, headers=headers)
    assert kept.status_code == 200 and kept.json()["text"] == "Label the axes."
    assert client.post(url, json={"text": "Label the axes."}, headers=headers).json()["id"] == kept.json()["id"]
    assert client.post(url, json={"text": "   "}, headers=headers).status_code == 400
    assert client.post(url, json={"text": "x" * 5001}, headers=headers).status_code == 400
    assert client.post(url, json=["no"], headers=headers).status_code == 400
    assert client.post(url, json={"text": "no token"}, headers={"X-Requested-With": "fetch"}).status_code == 403
    auto_item = "/staff/courseworks/cwa/items/shown/comments"
    assert client.post(auto_item, json={"text": "a"}, headers=headers).status_code == 400
    assert (
        put(
            client,
            gina,
            f"/staff/submissions/{alice}/marks/curves",
            {"score": 4, "comment": "Used once already.", "expected_version": None},
        ).status_code
        == 200
    )

    page = client.get("/staff/courseworks/cwa/items/curves").text
    bank = page.split('data-testid="bank-list"')[1].split("</ul>")[0]
    assert "Label the axes." in bank
    assert "Used once already." in page.split('data-testid="used-list"')[1]
    assert client.delete(f"{url}/{kept.json()['id']}", headers=headers).status_code == 200
    assert client.delete(f"{url}/{kept.json()['id']}", headers=headers).status_code == 404
    with sessions() as s:
        assert s.scalar(select(CommentBankEntry.id)) is None
    csrf = sign_in(client, "alice")
    assert client.post(url, json={"text": "student"}, headers={"X-CSRF-Token": csrf}).status_code == 403


def test_even_allocation_and_the_my_allocation_filter(client, people, sessions):
    for username, ext in (("dan", "s4"), ("eve", "s5")):
        add_student(sessions, username, ext, username.title())
    for username in ("alice", "bob", "dan", "eve"):
        submit(client, sessions, username, f"{username} curves")
    lee = sign_in(client, "lee")
    gina_id, lee_id = people.user_ids["gta"], people.user_ids["lecturer"]
    setup = client.get("/lecturer/courseworks/cwa/marking")
    assert setup.status_code == 200 and 'data-student="s3"' in setup.text
    reply = client.post(
        "/lecturer/courseworks/cwa/allocations/even",
        data={"csrf_token": lee, "marker": [str(gina_id), str(lee_id)], "seed": "7"},
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    with sessions() as s:
        first = dict(s.execute(select(MarkingAllocation.student_id, MarkingAllocation.marker_id)).all())
    assert len(first) == 4 and sorted(first.values()).count(gina_id) == 2  # carol (no submission) left out
    client.post(
        "/lecturer/courseworks/cwa/allocations/even",
        data={"csrf_token": lee, "marker": [str(lee_id), str(gina_id)], "seed": "7"},
    )
    with sessions() as s:
        assert dict(s.execute(select(MarkingAllocation.student_id, MarkingAllocation.marker_id)).all()) == first

    # Bad input changes nothing.
    assert post(client, lee, "/lecturer/courseworks/cwa/allocations/even", {"seed": "1"}).status_code == 400
    assert (
        client.post(
            "/lecturer/courseworks/cwa/allocations/even",
            follow_redirects=False,
            data={"csrf_token": lee, "marker": [str(people.user_ids["student"])], "seed": "1"},
        ).status_code
        == 400
    )
    assert (
        post(
            client, lee, "/lecturer/courseworks/cwa/allocations/even", {"marker": str(gina_id), "seed": "x"}
        ).status_code
        == 400
    )
    assert (
        post(
            client, lee, "/lecturer/courseworks/cwa/allocations", {"student": "999999", "marker": str(gina_id)}
        ).status_code
        == 400
    )
    with sessions() as s:
        assert dict(s.execute(select(MarkingAllocation.student_id, MarkingAllocation.marker_id)).all()) == first

    # By hand: carol to gina.
    with sessions() as s:
        carol = s.scalar(select(Student.id).where(Student.external_id == "s3"))
    assert (
        post(
            client, lee, "/lecturer/courseworks/cwa/allocations", {"student": str(carol), "marker": str(gina_id)}
        ).status_code
        == 303
    )

    with sessions() as s:
        ext = dict(s.execute(select(Student.id, Student.external_id)).all())
    mine = {ext[sid] for sid, marker in first.items() if marker == gina_id} | {"s3"}
    sign_in(client, "gina")
    html = client.get("/staff/courseworks/cwa", params={"mine": 1}).text
    assert set(re.findall(r'<tr data-student="([^"]+)"', html)) == mine
    rows = client.get("/staff/courseworks/cwa/rows", params={"mine": 1}, headers={"X-Requested-With": "fetch"}).json()
    assert set(re.findall(r'<tr data-student="([^"]+)"', rows["html"])) == mine
    everyone = client.get("/staff/courseworks/cwa").text
    assert set(re.findall(r'<tr data-student="([^"]+)"', everyone)) == set(ext.values())
    question = client.get("/staff/courseworks/cwa/items/curves", params={"mine": 1}).text
    assert set(answers(question)) == mine - {"s3"}  # carol has nothing to mark
    assert client.get("/lecturer/courseworks/cwa/marking").status_code == 403


def test_anonymous_marking_hides_names_from_gtas_only(client, people, sessions):
    with sessions() as s:  # distinctive names and ids, so "never in the page" means something
        s.execute(
            update(Student).where(Student.external_id == "s1").values(name="Zebedee Quuxworth", external_id="ZQ-993311")
        )
        s.execute(
            update(Student)
            .where(Student.external_id == "s2")
            .values(name="Ottoline Fairweather", external_id="OF-771244")
        )
        s.commit()
    secrets = ("Zebedee", "Quuxworth", "ZQ-993311", "Ottoline", "Fairweather", "OF-771244")
    same = answer_notebook("the same answer")  # (cell ids are random: the very same bytes twice)
    alice = submit(client, sessions, "alice", "", same)
    bob = submit(client, sessions, "bob", "", same)  # an identical file: a duplicate flag names alice
    lee = sign_in(client, "lee")
    assert post(client, lee, "/lecturer/courseworks/cwa/anonymous", {"anonymous": "maybe"}).status_code == 400
    assert post(client, lee, "/lecturer/courseworks/cwa/anonymous", {"anonymous": "1"}).status_code == 303
    assert "<strong>On</strong>" in client.get("/lecturer/courseworks/cwa/marking").text

    gina = sign_in(client, "gina")
    pages = {
        path: client.get(path)
        for path in (
            "/staff/courseworks/cwa",
            "/staff/courseworks/cwa?sort=student",
            f"/staff/submissions/{alice}",
            f"/staff/submissions/{bob}",
            "/staff/courseworks/cwa/items/curves",
            "/staff/courseworks/cwa/items/design",
        )
    }
    pages["rows"] = client.get("/staff/courseworks/cwa/rows", headers={"X-Requested-With": "fetch"})
    for path, reply in pages.items():
        assert reply.status_code == 200, path
        assert not [w for w in secrets if w in reply.text], path
    overview = pages["/staff/courseworks/cwa"].text
    labels = re.findall(r'<tr data-student="(Candidate \d{6}[A-Z]*)"', overview)
    assert len(labels) == 3 and len(set(labels)) == 3 and 'data-testid="anonymous"' in overview
    # The same pseudonym everywhere the GTA looks.
    mark = pages[f"/staff/submissions/{bob}"].text
    assert "Identical file" in mark and re.search(r"also sent by Candidate \d{6}", mark)
    assert set(answers(pages["/staff/courseworks/cwa/items/curves"].text)) <= set(labels)
    assert re.search(r"<h1>(Candidate \d{6}[A-Z]*)", mark)[1] in labels
    # Searching for a name finds nobody; searching a pseudonym finds its student.
    assert "<tr data-student" not in client.get("/staff/courseworks/cwa", params={"q": "Zebedee"}).text
    assert len(re.findall(r"<tr data-student", client.get("/staff/courseworks/cwa", params={"q": labels[0]}).text)) == 1
    assert (
        put(
            client,
            gina,
            f"/staff/submissions/{alice}/marks/curves",
            {"score": 2, "comment": "", "expected_version": None},
        ).status_code
        == 200
    )

    sign_in(client, "lee")  # the lecturer still sees names, and exports are unchanged
    assert "Zebedee Quuxworth" in client.get("/staff/courseworks/cwa").text
    assert "Zebedee Quuxworth" in client.get(f"/staff/submissions/{alice}").text
    assert "Ottoline Fairweather" in client.get("/staff/courseworks/cwa/items/curves").text
    assert "ZQ-993311" in client.get("/lecturer/courseworks/cwa/export.csv").text

    lee = sign_in(client, "lee")
    assert post(client, lee, "/lecturer/courseworks/cwa/anonymous", {}).status_code == 303  # off again
    sign_in(client, "gina")
    assert "Zebedee Quuxworth" in client.get("/staff/courseworks/cwa").text


def test_the_moderation_sample_is_stratified_reproducible_and_recorded(client, people, sessions):
    for username, ext in (("dan", "s4"), ("eve", "s5"), ("fay", "s6"), ("gus", "s7")):
        add_student(sessions, username, ext, username.title())
    subs = {u: submit(client, sessions, u, f"{u} curves") for u in ("alice", "bob", "dan", "eve", "fay", "gus")}
    gina_id, lee_id = people.user_ids["gta"], people.user_ids["lecturer"]
    with sessions() as s:
        student_of = {u: s.scalar(select(Submission.student_id).where(Submission.id == sub)) for u, sub in subs.items()}
    lee = sign_in(client, "lee")
    markers = {"alice": gina_id, "bob": gina_id, "dan": gina_id, "eve": lee_id, "fay": lee_id, "gus": lee_id}
    for u, marker in markers.items():
        assert (
            post(
                client,
                lee,
                "/lecturer/courseworks/cwa/allocations",
                {"student": str(student_of[u]), "marker": str(marker)},
            ).status_code
            == 303
        )
    # alice and eve score 16.4 / 20 (70%+), the rest 7.4 / 20 (under 40%).
    for u in subs:
        high = u in ("alice", "eve")
        for item, score in (("curves", 6 if high else 1), ("design", 4 if high else 0)):
            assert (
                put(
                    client,
                    lee,
                    f"/staff/submissions/{subs[u]}/marks/{item}",
                    {"score": score, "comment": f"{item} ok", "expected_version": None},
                ).status_code
                == 200
            )

    def drawn(seed: str) -> dict[str, tuple[str, int | None]]:
        reply = post(
            client, lee, "/lecturer/courseworks/cwa/moderation/sample", {"percent": "10", "minimum": "4", "seed": seed}
        )
        assert reply.status_code == 303, reply.text
        with sessions() as s:
            latest = s.scalar(select(ModerationPick.sample_id).order_by(ModerationPick.sample_id.desc()))
            picks = s.scalars(select(ModerationPick).where(ModerationPick.sample_id == latest)).all()
            return {
                next(u for u, sid in student_of.items() if sid == p.student_id): (p.band, p.marker_id) for p in picks
            }

    first = drawn("3")
    # Four strata (band x marker), four picks: one from each, so alice and eve are always in.
    assert len(first) == 4 and {"alice", "eve"} <= set(first)
    assert set(first.values()) == {("70%+", gina_id), ("under 40%", gina_id), ("70%+", lee_id), ("under 40%", lee_id)}
    assert drawn("3") == first  # the same seed, the same sample
    seen = {frozenset(drawn(str(seed))) for seed in range(8)}
    assert len(seen) > 1  # other seeds pick other students within the strata

    first = drawn("3")
    page = client.get("/lecturer/courseworks/cwa/moderation")
    assert page.status_code == 200 and page.text.count('data-testid="pick"') == 4
    assert "Alice" in page.text and "curves ok" in page.text and ">6 <" in page.text.replace("</td>", "<")
    with sessions() as s:
        pick = s.scalars(select(ModerationPick).order_by(ModerationPick.id.desc())).first()
    url = f"/lecturer/courseworks/cwa/moderation/picks/{pick.id}"
    assert post(client, lee, url, {"outcome": "maybe"}).status_code == 400
    assert post(client, lee, url, {"outcome": "adjusted", "note": "design raised by 1"}).status_code == 303
    assert (
        post(client, lee, "/lecturer/courseworks/cwa/moderation/picks/999999", {"outcome": "agreed"}).status_code == 404
    )
    assert post(client, lee, "/lecturer/courseworks/cwa/moderation/sample", {"percent": "0"}).status_code == 400
    assert post(client, lee, "/lecturer/courseworks/cwa/moderation/sample", {"minimum": "x"}).status_code == 400
    with sessions() as s:
        pick = s.get(ModerationPick, pick.id)
        assert pick.outcome.value == "adjusted" and pick.note == "design raised by 1" and pick.decided_by_id == lee_id
    assert 'data-testid="outcome">adjusted' in client.get("/lecturer/courseworks/cwa/moderation").text
    sign_in(client, "gina")
    assert client.get("/lecturer/courseworks/cwa/moderation").status_code == 403


# -- in Chromium ----------------------------------------------------------------------------------


def browser_sign_in(page, username: str) -> None:
    page.goto("/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(lambda url: "/login" not in url)


def wait_for(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_a_gta_reuses_a_bank_comment_with_one_click_and_moves_with_the_keyboard(
    client, people, sessions, page, screenshots
):
    alice = submit(client, sessions, "alice", "The test loss rises after epoch 8: overfitting.")
    bob = submit(client, sessions, "bob", "Both curves fall; no sign of overfitting yet.")
    browser_sign_in(page, "gina")
    page.goto("/staff/courseworks/cwa/items/curves")
    first, second = page.locator('[data-testid="answer-1"]'), page.locator('[data-testid="answer-2"]')
    first.locator("text=overfitting.").first.wait_for()

    page.fill('[data-testid="bank-new"]', "Say why the test loss rises.")
    page.click('[data-testid="bank-add"]')
    chip = page.locator('[data-testid="bank-list"] button.use', has_text="Say why the test loss rises.")
    chip.wait_for()

    first.locator("input.score").fill("4")
    first.locator("input.score").press("Tab")  # leaving the box saves it
    first.locator(".save-state", has_text="saved").wait_for()
    chip.click()  # one click: into the comment of the answer being marked, and saved
    assert first.locator("textarea.comment").input_value() == "Say why the test loss rises."

    def saved() -> tuple | None:
        with sessions() as s:
            mark = s.scalars(select(ManualMark).where(ManualMark.submission_id == alice)).first()
            return (mark.score, mark.comment) if mark and mark.comment else None

    assert wait_for(saved) == (4, "Say why the test loss rises.")
    assert second.locator("textarea.comment").input_value() == ""

    page.keyboard.press("j")  # the next answer: its score box, ready to type
    assert "active" in (second.get_attribute("class") or "")
    page.keyboard.type("3")
    page.keyboard.press("Alt+ArrowUp")  # back up while typing: the change saves on the way
    assert "active" in (first.get_attribute("class") or "")
    second.locator(".save-state", has_text="saved").wait_for()
    with sessions() as s:
        assert s.scalar(select(ManualMark.score).where(ManualMark.submission_id == bob)) == 3

    lee = sign_in(client, "lee")  # another marker saves bob's mark meanwhile
    assert (
        put(
            client,
            lee,
            f"/staff/submissions/{bob}/marks/curves",
            {"score": 5, "comment": "generous", "expected_version": 1},
        ).status_code
        == 200
    )
    second.locator("input.score").fill("2")
    second.locator("input.score").press("Tab")
    conflict = second.locator(".conflict")
    conflict.wait_for()
    assert "Saved meanwhile by lee: 5" in conflict.inner_text()
    with sessions() as s:
        assert s.scalar(select(ManualMark.score).where(ManualMark.submission_id == bob)) == 5  # nothing overwritten
    page.screenshot(path=str(screenshots / "question-view.png"), full_page=True)
