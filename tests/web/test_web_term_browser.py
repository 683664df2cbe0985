"""A lecturer's term in real headless Chromium, on the pages added for it: an extension granted
through the extensions page's form (and a bad CSV import refused with its per-line report), the
student's extended deadline on their coursework page, an exam-marks file uploaded on the module page,
and a regrade preview started and discarded. Every form on each page carries the session's CSRF token.
Screenshots: tests/artifacts/screenshots/term-*.png."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select
from web_kit import PASSWORD, grade, notebook

from grader.courseworks.models import DeadlineExtension
from grader.marking.module_models import ExamMark
from grader.runs.preview_models import RegradePreview

EXTENSIONS = "/lecturer/courseworks/cwa/extensions"
PREVIEW = "/lecturer/courseworks/cwa/regrade-preview"
NEW_DEADLINE = "Sun 01 Feb 2099, 16:00:00 GMT"  # "2099-02-01 16:00" in Europe/London, after cwa's own


def sign_in(page, username: str, next_path: str) -> None:
    page.goto(next_path)
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=whoami]")
    assert page.url.endswith(next_path)


def forms_carry_csrf(page) -> list[str]:
    """Every POST form on the page has the session's token (the one in the page's meta); returns their
    actions, the header's sign-out form first."""
    found = page.evaluate("""() => {
        const meta = document.querySelector('meta[name="csrf-token"]').content;
        return [...document.querySelectorAll('form')].filter(f => f.method === 'post').map(f => {
            const field = f.querySelector('input[name="csrf_token"]');
            return [f.getAttribute('action'), meta !== '' && field !== null && field.value === meta];
        });
    }""")
    assert found, "no form on " + page.url
    assert all(ok for _, ok in found), found
    assert found[0][0] == "/logout", found
    return [action for action, _ in found[1:]]


def shot(page, screenshots, name: str) -> None:
    page.screenshot(path=str(screenshots / f"term-{name}.png"), full_page=True)


def test_a_lecturers_term_extension_exam_marks_and_regrade_preview(
    page, browser, live_server, people, sessions, tmp_path, screenshots, cwa_rubric
):
    lecturer = page
    # The pages' data-confirm forms ask first: record each question, answer "no" while ``refuse`` says so.
    asked: list[str] = []
    refuse: list[bool] = []

    def answer(dialog) -> None:
        asked.append(dialog.message)
        if refuse and refuse.pop():
            dialog.dismiss()
        else:
            dialog.accept()

    lecturer.on("dialog", answer)

    # (1) An extension through the form; it is listed with its deadline and reason.
    sign_in(lecturer, "lee", "/lecturer/courseworks/cwa")
    lecturer.get_by_test_id("extensions-link").click()  # reached as a person would, from the coursework
    lecturer.wait_for_url(f"**{EXTENSIONS}")
    expect(lecturer.get_by_test_id("extensions")).to_contain_text("No extensions")
    assert forms_carry_csrf(lecturer) == [
        f"{EXTENSIONS}/cohort",  # deadline night: the whole cohort at once
        EXTENSIONS,
        "/lecturer/courseworks/cwa/mitigations",
        f"{EXTENSIONS}/import",
    ]
    lecturer.get_by_test_id("ext-student").fill("s1")
    lecturer.get_by_test_id("ext-deadline").fill("2099-02-31 16:00")  # a typo first
    lecturer.get_by_test_id("ext-reason").fill("REASON-T flu")
    lecturer.get_by_test_id("grant").click()
    # Refused beside the form, with what was typed kept to correct (not an error page that loses it).
    expect(lecturer.get_by_test_id("grant-problem")).to_contain_text("'2099-02-31 16:00' is not a deadline")
    assert lecturer.get_by_test_id("ext-student").input_value() == "s1"
    assert lecturer.get_by_test_id("ext-reason").input_value() == "REASON-T flu"
    expect(lecturer.get_by_test_id("extensions")).to_contain_text("No extensions")
    forms_carry_csrf(lecturer)
    shot(lecturer, screenshots, "extension-refused")
    lecturer.get_by_test_id("ext-deadline").fill("2099-02-01 16:00")
    lecturer.get_by_test_id("grant").click()
    row = lecturer.locator("[data-testid=extensions] tr[data-student=s1]")
    expect(row.get_by_test_id("deadline")).to_have_text(NEW_DEADLINE)
    expect(row).to_contain_text("REASON-T flu")
    expect(row.get_by_test_id("revoke")).to_be_visible()
    assert f"{EXTENSIONS}/s1/revoke" in forms_carry_csrf(lecturer)
    shot(lecturer, screenshots, "extension-granted")

    # A CSV with a bad line: the report names each bad line, the text stays to fix, nothing is stored.
    bad = "s2,cwa,+60,ok\ns9,cwa,+60,ghost\ns1,cwa,soonish,typo\n"
    lecturer.get_by_test_id("csv").fill(bad)
    lecturer.get_by_test_id("import").click()
    problems = lecturer.get_by_test_id("import-problems")
    expect(problems).to_contain_text("nothing was stored")
    text = problems.inner_text()
    assert "line 2" in text and "s9" in text and "line 3" in text, text
    assert "line 1" not in text, text  # the good line is not blamed
    assert lecturer.get_by_test_id("csv").input_value() == bad
    assert lecturer.locator("[data-testid=extensions] tr[data-student=s2]").count() == 0
    expect(row.get_by_test_id("deadline")).to_have_text(NEW_DEADLINE)  # s1's unchanged by line 3
    forms_carry_csrf(lecturer)
    shot(lecturer, screenshots, "extension-csv-refused")
    with sessions() as session:
        held = session.scalars(select(DeadlineExtension)).all()
        assert [e.student_id for e in held] == [people.student_ids["student"]]

    # (2) The student, in a browser context of their own, sees their deadline and not the reason;
    # and submits (the regrade preview below needs a counting submission).
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    try:
        student = context.new_page()
        sign_in(student, "alice", "/courseworks/cwa")
        expect(student.get_by_test_id("deadline")).to_have_text(NEW_DEADLINE)
        expect(student.get_by_test_id("extended")).to_contain_text("your extension")
        assert "REASON-T" not in student.content()
        forms_carry_csrf(student)
        upload = tmp_path / "cwa.ipynb"
        upload.write_bytes(notebook("x = 1"))
        student.set_input_files("input[type=file]", str(upload))
        student.click("form[enctype] button[type=submit]")
        student.wait_for_selector("[data-testid=receipt]")
        grade(sessions, cwa_rubric, student.inner_text("[data-testid=receipt-id]"))  # 4.9 / 20 (web_kit.TESTS)
        student.goto("/courseworks/cwa")
        shot(student, screenshots, "student-extended-deadline")

        # (3) Exam marks from a file on the module page: the table shows the exam and module marks.
        lecturer.goto("/")
        lecturer.get_by_test_id("module-link").click()
        lecturer.wait_for_url("**/lecturer/module")
        assert forms_carry_csrf(lecturer) == ["/lecturer/module/release", "/lecturer/module/exam-marks"]
        exam = tmp_path / "exam.csv"
        exam.write_text("external_id,mark\ns1,70\ns2,55.5\n")
        lecturer.set_input_files("input[type=file][name=file]", str(exam))
        lecturer.get_by_test_id("exam-import").click()
        expect(lecturer.get_by_test_id("notice")).to_have_text("Imported 2 exam marks.")
        alice = lecturer.locator("[data-testid=module-marks] tr[data-student=s1]")
        expect(alice.locator("[data-col=exam]")).to_have_text("70.00")
        expect(alice.locator("[data-cw=cwa]")).to_have_text("24.50")  # 4.9 / 20
        expect(alice.locator("[data-col=coursework]")).to_have_text("9.80")  # 0.4 x 24.5 + 0.6 x 0
        expect(alice.locator("[data-col=module]")).to_have_text("39.90")  # 0.5 x 9.8 + 0.5 x 70
        expect(lecturer.locator("tr[data-student=s2] [data-col=exam]")).to_have_text("55.50")
        forms_carry_csrf(lecturer)
        shot(lecturer, screenshots, "module-exam-marks")
        with sessions() as session:
            assert sorted(float(m) for m in session.scalars(select(ExamMark.mark))) == [55.5, 70.0]

        # Before any release the student's module page shows no exam or module mark.
        student.goto("/")
        student.get_by_test_id("module-link").click()
        student.wait_for_url("**/module")
        expect(student.get_by_test_id("exam-mark")).to_have_text("shown once module marks are released")
        expect(student.get_by_test_id("module-mark")).to_have_text("shown once module marks are released")
        assert "70.00" not in student.inner_text("[data-testid=my-module]")
        shot(student, screenshots, "student-module")
    finally:
        context.close()

    # (4) A regrade preview: started (its run waits for a worker: apply is not offered), then discarded.
    lecturer.goto("/lecturer/courseworks/cwa")
    lecturer.get_by_test_id("regrade-preview").click()
    lecturer.wait_for_url(f"**{PREVIEW}")
    assert forms_carry_csrf(lecturer) == [PREVIEW]
    lecturer.get_by_test_id("start-preview").click()
    lecturer.wait_for_url("**?preview=*")
    assert asked[-1] == "Regrade every counting submission of CW A: Make it deep on this suite, as a preview?"
    preview = lecturer.get_by_test_id("preview")
    expect(preview).to_have_attribute("data-status", "pending")
    expect(lecturer.get_by_test_id("counts")).to_contain_text("1 not finished")
    expect(lecturer.locator("[data-testid=preview-rows] tr[data-student=s1]")).to_have_attribute(
        "data-state", "waiting"
    )
    assert lecturer.get_by_test_id("apply-preview").count() == 0
    assert lecturer.get_by_test_id("start-preview").count() == 0  # one pending preview at a time
    assert [a.rsplit("/", 1)[1] for a in forms_carry_csrf(lecturer)] == ["discard"]
    shot(lecturer, screenshots, "regrade-preview-waiting")
    refuse.append(True)  # "no" to the question: nothing happens
    lecturer.get_by_test_id("discard-preview").click()
    lecturer.reload()
    expect(preview).to_have_attribute("data-status", "pending")
    assert asked[-1] == "Discard this preview? Nothing changes for anyone." and not refuse
    lecturer.get_by_test_id("discard-preview").click()
    expect(preview).to_have_attribute("data-status", "discarded")
    expect(lecturer.get_by_test_id("start-preview")).to_be_visible()
    assert lecturer.get_by_test_id("discard-preview").count() == 0
    shot(lecturer, screenshots, "regrade-preview-discarded")
    with sessions() as session:
        assert [p.status.value for p in session.scalars(select(RegradePreview))] == ["discarded"]
