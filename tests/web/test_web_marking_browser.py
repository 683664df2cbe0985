"""The markers' pages in real headless Chromium: the marking story end to end (a GTA marks two
items with comments, the total follows, a lecturer releases, the student reads the sheet), and a
hostile notebook whose outputs try to run code or reach the network, which does nothing at all."""

from __future__ import annotations

import http.server
import io
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import nbformat
import pytest
from sqlalchemy import select, update
from web_kit import PASSWORD, grade, sign_in, upload

from grader.blobs import LocalBlobStore
from grader.marking.models import ManualMark, MarkChange
from grader.notebooks.render import render_notebook
from grader.runs.models import GradingRun
from grader.scoring.outcomes import TestOutcome, TestResult
from grader.submissions.models import Submission

# Our own test results (not web_kit's, which other tests may change): auto 1.6 + 3 + 1.8 = 6.4 of 10.
RESULTS = {
    "test_a.py::test_shown": TestResult(TestOutcome.failed, 0.4, "shape (3, 3) expected, got (3, 4)"),
    "test_a.py::test_later": TestResult(TestOutcome.passed, 1.0, "later: all values right"),
    "test_a.py::test_secret": TestResult(TestOutcome.failed, 0.6, "secret: hidden expected [1, 2]"),
}


class Listener:
    """A loopback HTTP server recording every request: anything hostile that runs or loads calls it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def probe(self) -> None:
        """Prove the listener works (so an empty ``hits`` means something)."""
        with socket.create_connection(self.server.server_address, timeout=5) as s:
            s.sendall(b"GET /probe HTTP/1.0\r\n\r\n")
            s.recv(100)
        assert self.hits == ["/probe"]
        self.hits.clear()


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.server.shutdown()


def hostile_outputs(url: str) -> list[str]:
    return [
        f"<script>window.top.pwned = 1; fetch('{url}/script')</script>",
        f'<img src="x" onerror="fetch(\'{url}/onerror\')"><div onmouseover="fetch(\'{url}/hover\')">hover me</div>',
        f'<svg xmlns="http://www.w3.org/2000/svg" onload="fetch(\'{url}/svg-onload\')">'
        f"<script>fetch('{url}/svg-script')</script><circle r='4'/></svg>",
        f'<base href="{url}/base/"><img src="pixel.png"><a href="page">a link</a>',
        f'<meta http-equiv="refresh" content="0; url={url}/refresh">',
        f'<div style="background-image: url({url}/css-attr)">styled</div>'
        f"<style>@import url({url}/css-import); body {{ background: url({url}/css-block) }}</style>",
        f'<img src="{url}/remote-img"><iframe src="{url}/iframe"></iframe><object data="{url}/object"></object>',
    ]


def hostile_notebook(url: str) -> bytes:
    outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": h, "text/plain": "x"}) for h in hostile_outputs(url)
    ]
    outputs.append(
        nbformat.v4.new_output(
            "display_data",
            data={
                "image/svg+xml": f'<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("{url}/svg-output")</script>'
                f'<image href="{url}/svg-image"/></svg>'
            },
        )
    )
    outputs.append(nbformat.v4.new_output("display_data", data={"application/javascript": f"fetch('{url}/js')"}))
    cells = [
        nbformat.v4.new_markdown_cell(f"# Answers\n<img src=x onerror=\"fetch('{url}/md')\">"),
        nbformat.v4.new_code_cell("show()", execution_count=1, outputs=outputs),
        nbformat.v4.new_code_cell(
            "print('the honest part')",
            execution_count=2,
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="the honest part\n")],
        ),
    ]
    return nbformat.writes(nbformat.v4.new_notebook(cells=cells)).encode()


def graded_submission(client, sessions, username: str, data: bytes, rendered_page: bytes | None) -> uuid.UUID:
    csrf = sign_in(client, username)
    assert upload(client, csrf, data).status_code == 303
    client.cookies.clear()
    with sessions() as s:
        sub = s.scalars(select(Submission).order_by(Submission.received_at.desc())).first()
    run_id = grade(sessions, client.app.state.courseworks["cwa"].rubric, sub.id, RESULTS)
    if rendered_page is not None:
        key = LocalBlobStore(client.app.state.settings.blob_dir).put(io.BytesIO(rendered_page)).sha256
        with sessions() as s:
            s.execute(update(GradingRun).where(GradingRun.id == run_id).values(rendered_notebook_key=key))
            s.commit()
    return sub.id


def browser_sign_in(page, username: str) -> None:
    page.goto("/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(lambda url: "/login" not in url)


def look_for_execution(page, listener: Listener) -> None:
    frame = page.frame_locator('iframe[data-testid="notebook"]')
    frame.locator("text=the honest part").first.wait_for()  # the notebook did load
    page.hover('iframe[data-testid="notebook"]')
    time.sleep(2)  # a refresh, a load or a script would have called by now
    assert listener.hits == [], listener.hits
    assert page.evaluate("window.pwned") is None
    assert page.url.endswith("/staff/submissions/" + page.url.rsplit("/", 1)[1])  # never navigated away


def test_a_hostile_notebook_runs_nothing_in_the_markers_browser(client, people, sessions, page, listener, screenshots):
    listener.probe()
    data = hostile_notebook(listener.url)
    sub_id = graded_submission(client, sessions, "alice", data, render_notebook(data, title="cwa"))
    browser_sign_in(page, "gina")
    page.goto(f"/staff/submissions/{sub_id}")
    look_for_execution(page, listener)
    page.screenshot(path=str(screenshots / "marking-hostile-notebook.png"), full_page=True)


def test_even_an_unsanitised_page_is_held_by_the_csp_and_the_sandbox(client, people, sessions, page, listener):
    """Layer 3 alone: the raw hostile HTML served as if the sanitiser had missed everything."""
    listener.probe()
    raw = (
        "<!DOCTYPE html><html><body><p>the honest part</p>"
        + "".join(h for h in hostile_outputs(listener.url) if "refresh" not in h)
        + "</body></html>"
    ).encode()
    sub_id = graded_submission(client, sessions, "alice", hostile_notebook(listener.url), raw)
    browser_sign_in(page, "gina")
    page.goto(f"/staff/submissions/{sub_id}")
    look_for_execution(page, listener)


def test_a_gta_marks_two_items_a_lecturer_releases_and_the_student_reads_the_sheet(
    client, people, sessions, page, browser, live_server, screenshots
):
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("## 2.1 Training curves\nThe test loss rises after epoch 8: overfitting."),
            nbformat.v4.new_code_cell(
                "plot_curves()",
                execution_count=3,
                outputs=[nbformat.v4.new_output("stream", name="stdout", text="epoch 8: train 0.21, test 0.48\n")],
            ),
        ]
    )
    data = nbformat.writes(nb).encode()
    sub_id = graded_submission(client, sessions, "alice", data, render_notebook(data, title="cwa"))
    graded_submission(client, sessions, "bob", data, None)

    browser_sign_in(page, "gina")
    page.goto("/staff/courseworks/cwa")
    page.locator('tr[data-student="s1"] [data-testid="status"]', has_text="graded").wait_for()
    page.screenshot(path=str(screenshots / "marking-story-overview.png"), full_page=True)
    page.click(f'a[href="/staff/submissions/{sub_id}"]')
    page.frame_locator('iframe[data-testid="notebook"]').locator("text=epoch 8: train 0.21").wait_for()
    total = page.locator('[data-testid="total"]')
    assert total.inner_text() == "6.4"  # the auto items only (1.6 + 3 + 1.8)

    for item, score, comment in [
        ("curves", "5", "Clear curves; say why the test loss rises."),
        ("design", "3", "Good ablation."),
    ]:
        box = page.locator(f'[data-testid="item-{item}"]')
        box.locator("textarea.comment").fill(comment)
        box.locator("input.score").fill(score)
        box.locator("input.score").press("Tab")  # leaving the box saves it
        box.locator(".save-state", has_text="saved").wait_for()
    page.locator('[data-testid="total"]', has_text="14.4").wait_for()
    assert page.locator('[data-testid="complete"]').inner_text() == "complete"
    page.screenshot(path=str(screenshots / "marking-story-marking.png"), full_page=True)
    with sessions() as s:
        marks = {m.item_id: (m.score, m.comment) for m in s.scalars(select(ManualMark))}
        assert marks == {"design": (3, "Good ablation."), "curves": (5, "Clear curves; say why the test loss rises.")}
        assert {c.new_score for c in s.scalars(select(MarkChange))} >= {3, 5}  # every change kept

    page.keyboard.press("Escape")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("n")  # the next submission still to mark: bob's
    page.wait_for_url(lambda url: url.endswith("/staff/submissions/" + str(_sub_of(sessions, "s2"))))

    lecturer = browser.new_context(base_url=live_server)
    lpage = lecturer.new_page()
    lpage.on("dialog", lambda dialog: dialog.accept())  # "release to every student?"
    browser_sign_in(lpage, "lee")
    lpage.goto("/lecturer/courseworks/cwa")
    lpage.click('[data-testid="release"]')
    lpage.locator('[data-testid="released"]').wait_for()
    lecturer.close()

    student = browser.new_context(base_url=live_server)
    spage = student.new_page()
    browser_sign_in(spage, "alice")
    spage.goto("/courseworks/cwa/feedback")
    sheet = spage.locator('[data-testid="feedback-sheet"]')
    sheet.wait_for()
    text = sheet.inner_text()
    assert "Clear curves; say why the test loss rises." in text and "Good ablation." in text
    assert spage.locator('[data-testid="cw-total"]').inner_text() == "14.4 / 20"
    spage.screenshot(path=str(screenshots / "marking-story-feedback-sheet.png"), full_page=True)
    student.close()


def _sub_of(sessions, external_id: str) -> uuid.UUID:
    from grader.roster.models import Student

    with sessions() as s:
        return s.scalar(
            select(Submission.id)
            .join(Student, Student.id == Submission.student_id)
            .where(Student.external_id == external_id)
        )
