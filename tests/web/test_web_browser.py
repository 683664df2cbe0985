"""The student's and lecturer's pages in real headless Chromium (Debian's, through Playwright):
sign in, upload and follow the status live, CSRF refusals, session expiry, release with the
progress shown, and the feedback sheet on screen and printed. Screenshots: tests/artifacts/screenshots/."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect
from sqlalchemy import func, select, update
from web_kit import PASSWORD, grade, notebook

from grader.courseworks.models import Coursework
from grader.marking.service import set_mark
from grader.submissions.models import Submission
from grader.users.web_session_models import WebSession


def sign_in(page, username: str, next_path: str = "/") -> None:
    page.goto(next_path)
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=whoami]")


def _released(sessions, code: str = "cwa") -> bool:
    with sessions() as session:
        return session.scalars(select(Coursework.released_at).where(Coursework.code == code)).one() is not None


def test_student_signs_in_uploads_and_follows_the_status_live(
    page, people, sessions, tmp_path, screenshots, cwa_rubric
):
    sign_in(page, "alice", "/courseworks/cwa")
    assert page.url.endswith("/courseworks/cwa")  # back where they were going
    upload = tmp_path / "cwa.ipynb"
    upload.write_bytes(notebook("print('mine')"))
    page.set_input_files("input[type=file]", str(upload))
    page.click("form[enctype] button[type=submit]")
    page.wait_for_selector("[data-testid=receipt]")
    sub_id = page.inner_text("[data-testid=receipt-id]")
    with sessions() as session:
        sub = session.get(Submission, uuid.UUID(sub_id))
        assert sub is not None and page.inner_text("[data-testid=receipt-sha256]") == sub.sha256
    assert page.inner_text("[data-testid=status]") == "queued"
    grade(sessions, cwa_rubric, sub_id)
    # No reload: the page polls and shows the new status and the visible test's feedback.
    expect(page.locator("[data-testid=status]")).to_have_text("graded")
    assert "shape (3, 3) expected" in page.inner_text("#status")
    assert "hidden expected" not in page.content()
    page.screenshot(path=str(screenshots / "student-receipt.png"), full_page=True)


def test_a_cross_site_or_tokenless_post_changes_nothing(page, people, sessions, live_server):
    sign_in(page, "lee")
    # Same origin, but without the token (a script that did not read the page): refused.
    status = page.evaluate("""async () => (await fetch('/lecturer/courseworks/cwa/release',
        {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'note=x'})).status""")
    assert status == 403
    # Another site's form posting to ours: the SameSite cookie stays home and the token is missing.
    other = page.context.new_page()
    other.set_content(f"""<form id=f method=post action="{live_server}/lecturer/courseworks/cwa/release">
        <input name=csrf_token value=guess></form>""")
    with other.expect_response(lambda r: r.request.method == "POST") as posted:
        other.evaluate("document.getElementById('f').submit()")
    reply = posted.value
    assert reply.status in (303, 403), reply.status
    if reply.status == 303:  # the cookie was not sent: not signed in as far as that request goes
        assert reply.headers["location"].startswith("/login")
    assert not _released(sessions)


def test_an_idle_session_ends_and_signing_in_again_returns_to_the_page(page, people, sessions):
    sign_in(page, "alice", "/courseworks/cwa")
    with sessions() as session:
        session.execute(update(WebSession).values(last_seen_at=func.now() - func.make_interval(0, 0, 0, 1)))
        session.commit()
    page.reload()
    assert "/login" in page.url and "next=/courseworks/cwa" in page.url
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=submissions]")
    assert page.url.endswith("/courseworks/cwa")


def test_wrong_password_stays_on_the_sign_in_page(page, people):
    page.goto("/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert page.inner_text("[role=alert]") == "Wrong username or password."
    assert page.context.cookies() == [] or all(c["name"] != "grader_session" for c in page.context.cookies())


def test_lecturer_releases_and_the_student_reads_and_prints_the_sheet(
    page, browser, people, sessions, screenshots, cwa_rubric, tmp_path, live_server
):
    rubric = cwa_rubric
    sign_in(page, "alice")
    page.goto("/courseworks/cwa")
    # Submitted in the page; graded and marked in the gradebook (the GTA's page is D2's story).
    tmp = tmp_path / "cwa.ipynb"
    tmp.write_bytes(notebook())
    page.set_input_files("input[type=file]", str(tmp))
    page.click("form[enctype] button[type=submit]")
    page.wait_for_selector("[data-testid=receipt]")
    sub_id = page.inner_text("[data-testid=receipt-id]")
    grade(sessions, rubric, sub_id)
    with sessions() as session:
        sub = session.get(Submission, uuid.UUID(sub_id))
        for item, score, comment in [
            ("curves", 5, "Clear curves; explain the rising test loss."),
            ("design", 3, "A good ablation of the widths."),
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
    page.goto("/courseworks/cwa/feedback")
    assert "not released yet" in page.content()

    lecturer = browser.new_context(base_url=live_server).new_page()
    sign_in(lecturer, "lee", "/lecturer/courseworks/cwa")
    assert "1 of 1 graded" in lecturer.inner_text("[data-testid=progress]")
    lecturer.on("dialog", lambda d: d.accept())
    lecturer.click("[data-testid=regrade-all]")
    expect(lecturer.locator("[data-testid=progress]")).to_contain_text("1 waiting")
    grade(sessions, rubric, sub_id)
    expect(lecturer.locator("[data-testid=progress]")).not_to_contain_text("waiting")  # polled, no reload
    lecturer.click("[data-testid=release]")
    lecturer.wait_for_selector("[data-testid=released]")
    lecturer.screenshot(path=str(screenshots / "lecturer-release.png"), full_page=True)
    assert _released(sessions)

    page.goto("/courseworks/cwa/feedback")
    sheet = page.locator("[data-testid=feedback-sheet]")
    assert "Clear curves; explain the rising test loss." in sheet.inner_text()
    assert page.inner_text("[data-testid=cw-total]") == "12.9 / 20"
    assert page.inner_text("[data-testid=cw-mark]") == "25.8 / 100"
    page.screenshot(path=str(screenshots / "feedback-sheet.png"), full_page=True)
    page.emulate_media(media="print")
    assert not page.is_visible("header.site") and not page.is_visible("button[data-print]")
    page.pdf(path=str(screenshots / "feedback-sheet.pdf"))
    assert (screenshots / "feedback-sheet.pdf").read_bytes().startswith(b"%PDF")
