"""Accessibility in real headless Chromium (docs/accessibility.md): axe-core on every dashboard page,
for every role, with no serious or critical violation (nor a moderate one of the landmark and heading
rules); the marking page used by keyboard alone; the feedback sheet as a screen reader reads it.

The pages are read from the app's own routes (a11y_kit), so a page added later is checked too: each
role's test visits every page that role may open and fails if one does not answer with a page.
One browser for the session; one browser context and one test per role.
"""

from __future__ import annotations

import io
import re
import uuid

import nbformat
import pytest
from a11y_kit import ANONYMOUS, ROLES, axe_problems, dashboard_get_routes, install_axe, page_routes
from playwright.sync_api import expect
from sqlalchemy import select, update
from web_kit import PASSWORD, grade, sign_in, upload

from grader.blobs import LocalBlobStore
from grader.notebooks.render import render_notebook
from grader.runs.models import GradingRun
from grader.submissions.models import Submission

USERS = {"student": "alice", "gta": "gina", "lecturer": "lee"}


def answer_notebook() -> bytes:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("## 2.1 Training curves\nThe test loss rises after epoch 8."),
            nbformat.v4.new_code_cell(
                "plot_curves()",
                execution_count=1,
                outputs=[
                    nbformat.v4.new_output(  # long: the marking page's frame scrolls
                        "stream", name="stdout", text="".join(f"epoch {i}: train 0.21, test 0.48\n" for i in range(80))
                    )
                ],
            ),
        ]
    )
    return nbformat.writes(nb).encode()


@pytest.fixture
def world(client, people, sessions) -> dict[str, str]:
    """Every page with something on it: alice's and bob's graded submissions (alice's rendered), two
    hand marks with comments, an extension, s3 withdrawn (the roster's erasure form), the coursework
    released. Returns the path parameters."""
    data = answer_notebook()
    rubric = client.app.state.courseworks["cwa"].rubric
    subs = {}
    for username in ("alice", "bob"):
        csrf = sign_in(client, username)
        assert upload(client, csrf, data).status_code == 303
        with sessions() as s:
            subs[username] = s.scalars(select(Submission.id).order_by(Submission.received_at.desc())).first()
        run_id = grade(sessions, rubric, subs[username])
        if username == "alice":
            alice_run = run_id
            key = (
                LocalBlobStore(client.app.state.settings.blob_dir)
                .put(io.BytesIO(render_notebook(data, title="cwa")))
                .sha256
            )
            with sessions() as s:
                s.execute(update(GradingRun).where(GradingRun.id == run_id).values(rendered_notebook_key=key))
                s.commit()
    csrf = sign_in(client, "gina")
    for item, score, comment in [("curves", 5, "Clear curves; say why the test loss rises."), ("design", 3, "")]:
        reply = client.put(
            f"/staff/submissions/{subs['alice']}/marks/{item}",
            json={"score": score, "comment": comment, "expected_version": None},
            headers={"X-CSRF-Token": csrf, "X-Requested-With": "fetch"},
        )
        assert reply.status_code == 200, reply.text
    csrf = sign_in(client, "lee")
    reply = client.post(
        "/lecturer/courseworks/cwa/extensions",
        data={"csrf_token": csrf, "external_id": "s2", "deadline": "2099-02-01 16:00", "reason": "flu"},
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    reply = client.post(  # the roster then shows a withdrawn student's erasure form
        "/lecturer/roster/withdraw", data={"csrf_token": csrf, "external_id": "s3"}, follow_redirects=False
    )
    assert reply.status_code == 303, reply.text
    reply = client.post("/lecturer/courseworks/cwa/release", data={"csrf_token": csrf}, follow_redirects=False)
    assert reply.status_code == 303, reply.text
    client.cookies.clear()
    return {
        "cw": "cwa",
        "submission_id": str(subs["alice"]),
        "run_id": str(alice_run),
        "item_id": "curves",
        "other_submission_id": str(subs["bob"]),
    }


# Pages that need a query string, from the path parameters.
QUERIES = {
    "/lecturer/courseworks/{cw}/similarity/compare": lambda p: f"?a={p['submission_id']}&b={p['other_submission_id']}",
}


def signed_in_context(browser, live_server: str, role: str):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    install_axe(context)
    page = context.new_page()
    if role != ANONYMOUS:
        page.goto("/login")
        page.get_by_label("Username").fill(USERS[role])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("[data-testid=whoami]")
    return context, page


def test_the_page_list_is_read_from_the_app(client):
    """Every dashboard GET route is a page or named in NOT_PAGES, and every page is for some role."""
    routes = dashboard_get_routes(client.app)
    pages = page_routes(client.app)
    assert {"/", "/login", "/staff/submissions/{submission_id}", "/courseworks/{cw}/feedback"} <= {
        p.path for p in pages
    }
    assert all(p.roles and p.roles <= set(ROLES) for p in pages), pages
    assert len(pages) < len(routes)


# Path parameters for the anonymous visitor, who is sent to sign in before any is looked up.
NOBODYS = {
    "cw": "cwa",
    "submission_id": str(uuid.UUID(int=1)),
    "run_id": "1",
    "item_id": "curves",
    "other_submission_id": str(uuid.UUID(int=2)),
}


@pytest.mark.parametrize("role", ROLES)
def test_every_page_passes_axe_for_each_role(role, request, browser, live_server, client, screenshots):
    params = NOBODYS if role == ANONYMOUS else request.getfixturevalue("world")  # nothing to see signed out
    context, page = signed_in_context(browser, live_server, role)
    try:
        checked, problems, refused_checked = [], {}, False
        for route in page_routes(client.app):
            url = route.url(params) + QUERIES.get(route.path, lambda _: "")(params)
            reply = page.goto(url)
            assert reply is not None
            if role not in route.roles:
                # Not for this role: refused, or sent elsewhere (to sign in; the sign-in page, signed in,
                # home); the first refusal page is checked too.
                redirected = reply.request.redirected_from is not None
                assert reply.status in (403, 404) or redirected, (url, reply.status, page.url)
                if refused_checked or redirected:
                    continue
                refused_checked = True
            else:
                assert reply.status == 200, f"{url} answered {role} with {reply.status}, not a page"
                assert reply.headers["content-type"].startswith("text/html"), (url, reply.headers["content-type"])
                checked.append(route.path)
            found = axe_problems(page)
            if found:
                problems[url] = found
                name = re.sub(r"\W+", "-", route.path).strip("-") or "home"
                page.screenshot(path=str(screenshots / f"a11y-{role}-{name}.png"), full_page=True)
        assert not problems, "\n".join(f"{url}:\n  " + "\n  ".join(lines) for url, lines in problems.items())
        assert checked == [r.path for r in page_routes(client.app) if role in r.roles]
    finally:
        context.close()


def test_axe_finds_what_it_should(browser, live_server):
    """The check means something: a page with known faults fails it, the same page mended passes."""
    context, page = signed_in_context(browser, live_server, ANONYMOUS)
    try:
        page.goto("/login")
        page.set_content(
            '<html><body><main><h1>x</h1><img src="/static/none.png"><a href="/"></a>'
            '<input name="q"><p style="color:#ccc;background:#fff">faint</p></main></body></html>'
        )
        found = {line.split(" ", 1)[0] for line in axe_problems(page)}
        assert {"image-alt", "link-name", "label", "color-contrast", "html-has-lang"} <= found, found
        page.set_content(
            '<html lang="en"><head><title>t</title></head><body><main><h1>x</h1>'
            '<img src="/static/none.png" alt="nothing"><a href="/">home</a>'
            '<label>Query <input name="q"></label><p>plain</p></main></body></html>'
        )
        assert axe_problems(page) == []
    finally:
        context.close()


# -- the marking page by keyboard alone -------------------------------------------------------------

CONTROLS = """() => {
    const sel = 'a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), textarea, select, ' +
                'summary, iframe, [tabindex]:not([tabindex="-1"])';
    const shown = [...document.querySelectorAll(sel)].filter(e => e.getClientRects().length > 0 &&
        getComputedStyle(e).visibility !== 'hidden');
    shown.forEach((e, i) => e.setAttribute('data-kb', String(i)));
    return shown.map(e => e.tagName.toLowerCase() + ' ' + (e.dataset.testid || e.getAttribute('aria-label') ||
                                                           e.textContent.trim().slice(0, 30)));
}"""

FOCUSED = """() => {
    const e = document.activeElement;
    if (!e || e === document.body) { return null; }
    const s = getComputedStyle(e);
    return {kb: e.dataset.kb === undefined ? null : Number(e.dataset.kb),
            tag: e.tagName.toLowerCase(), testid: e.dataset.testid || null, cls: e.className || '',
            label: e.getAttribute('aria-label'), text: e.textContent.trim().slice(0, 40),
            ring: e.matches(':focus-visible') && s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2};
}"""


def tab_to(page, want, limit: int = 60) -> dict:
    """Press Tab until the focused element satisfies ``want``; returns it."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUSED)
        if now and want(now):
            return now
    raise AssertionError("Tab never reached the control")


def keyboard_sign_in(page, username: str) -> None:
    page.goto("/login")
    page.keyboard.type(username)  # the username field has the focus on arrival
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=whoami]")


def test_the_marking_page_works_by_keyboard_alone(browser, live_server, world, screenshots):
    context, page = signed_in_context(browser, live_server, ANONYMOUS)
    try:
        keyboard_sign_in(page, "gina")
        page.goto(f"/staff/submissions/{world['submission_id']}")
        controls = page.evaluate(CONTROLS)
        page.frame_locator("iframe[data-testid=notebook]").locator("text=epoch 79").wait_for()
        frame = page.locator("iframe[data-testid=notebook]").element_handle().content_frame()
        assert frame is not None

        # The first Tab stop skips the header to the content; from there Tab goes round every control
        # once, in the page's order, each with a visible focus ring.
        first = tab_to(page, lambda f: True, limit=1)
        assert first["cls"] == "skip-link" and first["ring"], first
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "content"
        order: list[int] = []
        for _ in range(len(controls) + 10):
            page.keyboard.press("Tab")
            now = page.evaluate(FOCUSED)
            if now is None or now["kb"] is None:
                continue
            if now["tag"] == "iframe":  # the focus is inside the notebook's frame: on its main
                now["ring"] = frame.evaluate(FOCUSED)["ring"]
            assert now["ring"], f"no visible focus on {controls[now['kb']]}"
            if order and now["kb"] == order[0]:
                break  # round the page once
            if now["kb"] not in order:
                order.append(now["kb"])
        assert page.evaluate(f"document.querySelector('[data-kb=\"{order[0]}\"]').closest('main') !== null")
        missed = [controls[i] for i in range(len(controls)) if i not in order]
        assert not missed, f"Tab never reaches {missed}"
        top = order.index(0)
        assert order[top:] + order[:top] == list(range(len(controls))), "the Tab order is not the page's order"

        # The notebook scrolls by keyboard once its frame has the focus.
        tab_to(page, lambda f: f["tag"] == "iframe")
        before = frame.evaluate("scrollY")
        page.keyboard.press("PageDown")
        for _ in range(20):  # scrolling may be smooth: give it up to two seconds
            if frame.evaluate("scrollY") > before + 200:
                break
            page.wait_for_timeout(100)
        assert frame.evaluate("scrollY") > before + 200, "PageDown did not scroll the notebook"

        # A score and a comment typed, saved on leaving the field; "n" in a text box is just a letter.
        box = page.get_by_test_id("item-curves")
        tab_to(page, lambda f: (f["label"] or "").startswith("Score for curves"))
        page.keyboard.press("Control+A")
        page.keyboard.type("6")
        page.keyboard.press("Tab")  # to the comment: the score saves
        expect(box.locator(".save-state")).to_have_text("saved")
        page.keyboard.press("Control+End")
        page.keyboard.type(" Well done on the plots.n")
        page.keyboard.press("Tab")
        expect(box.locator(".save-state")).to_have_text("saved")
        assert world["submission_id"] in page.url  # still here
        # 4.9 auto (web_kit.TESTS) + 6 + 3; the penalty not applied yet
        expect(page.get_by_test_id("total")).to_have_text("13.9")
        # A penalty applied with the space bar.
        tab_to(page, lambda f: "applied" in f["cls"])
        page.keyboard.press("Space")
        expect(page.get_by_test_id("penalty-nolabels").locator(".save-state")).to_have_text("saved")
        expect(page.get_by_test_id("total")).to_have_text("12.9")
        page.screenshot(path=str(screenshots / "a11y-marking-keyboard.png"), full_page=True)

        # The shortcut: "n" outside a text box opens the next submission still to mark (bob's).
        tab_to(page, lambda f: f["testid"] == "graded-notebook")
        page.keyboard.press("n")
        page.wait_for_url(lambda url: world["submission_id"] not in url)
        bob = page.url
        page.wait_for_selector("[data-testid=whoami]")

        # ... and it can be turned off (WCAG 2.1.4), which this browser remembers.
        toggle = tab_to(page, lambda f: f["testid"] == "shortcuts")
        assert toggle["ring"]
        page.keyboard.press("Space")
        expect(page.get_by_test_id("shortcuts")).not_to_be_checked()
        tab_to(page, lambda f: f["testid"] == "graded-notebook")
        page.keyboard.press("n")
        page.wait_for_timeout(500)
        assert page.url == bob
        page.reload()
        expect(page.get_by_test_id("shortcuts")).not_to_be_checked()

        # The question view shares the switch: j does nothing while it is off, Alt+Down still moves on.
        page.goto("/staff/courseworks/cwa/items/curves")
        expect(page.get_by_test_id("shortcuts")).not_to_be_checked()

        def on_link(f: dict) -> bool:
            return f["tag"] == "a" and f["text"] == "whole submission"

        tab_to(page, on_link)
        page.keyboard.press("j")
        assert page.evaluate(FOCUSED)["text"] == "whole submission"
        page.keyboard.press("Alt+ArrowDown")
        assert (page.evaluate(FOCUSED)["label"] or "").startswith("Score / 6 for ")
        tab_to(page, lambda f: f["testid"] == "shortcuts")
        page.keyboard.press("Space")  # on again
        tab_to(page, on_link)
        page.keyboard.press("j")
        assert (page.evaluate(FOCUSED)["label"] or "").startswith("Score / 6 for ")
    finally:
        context.close()


# -- the feedback sheet as a screen reader meets it -------------------------------------------------

SHEET = """
- 'heading "CW A: Make it deep: feedback" [level=1]'
- button "Print / save as PDF"
- 'heading "Part 1: Layers" [level=2]'
- 'table "Part 1: Layers"':
  - rowgroup:
    - row "Section Item Comment Got Max":
      - columnheader "Section"
      - columnheader "Item"
      - columnheader "Comment"
      - columnheader "Got"
      - columnheader "Max"
  - rowgroup:
    - row /Convolution shapes/:
      - cell "1.1a"
      - rowheader /^Convolution shapes/
      - cell
      - cell "1.6"
      - cell "4"
    - row /Convolution values/:
      - cell "1.1a"
      - rowheader /^Convolution values/
    - 'row "Part 1: Layers: total 4.9 10"':
      - 'rowheader "Part 1: Layers: total"'
      - cell "4.9"
      - cell "10"
- 'heading "Part 2: Discussion" [level=2]'
- 'table "Part 2: Discussion"':
  - rowgroup:
    - row /2\\.1 Training curves discussed/:
      - cell "2.1"
      - rowheader "Training curves discussed"
      - cell "Clear curves; say why the test loss rises."
      - cell "5"
      - cell "6"
- heading "Total" [level=2]
- table "Total":
  - rowgroup:
    - row "Items 12.9":
      - rowheader "Items"
      - cell "12.9"
    - row "Coursework total 12.9 / 20":
      - rowheader "Coursework total"
      - cell "12.9 / 20"
- heading "Coursework mark" [level=2]
- table "Coursework mark":
  - rowgroup:
    - row "Coursework Total Weight Contributes"
  - rowgroup:
    - 'row "CW A: Make it deep 12.9 / 20 40 % 25.8"':
      - 'rowheader "CW A: Make it deep"'
"""


def test_the_feedback_sheet_reads_well_in_a_screen_reader(browser, live_server, world):
    """The sheet's accessibility tree, as a screen reader gets it: a heading per part, each table named
    by its heading, column headers, and each score in a row named by its item."""
    context, page = signed_in_context(browser, live_server, "student")
    try:
        page.goto("/courseworks/cwa/feedback")
        sheet = page.get_by_test_id("feedback-sheet")
        expect(sheet).to_match_aria_snapshot(SHEET)
        # A cell is announced with its row and column: the comment of item 2.1 is found by both.
        row = page.get_by_role("row", name="Training curves discussed")
        expect(row.get_by_role("rowheader")).to_have_text("Training curves discussed")
        assert page.get_by_role("columnheader", name="Comment").count() == 2
        expect(page.get_by_role("main")).to_be_visible()
        expect(page.get_by_role("navigation", name="main")).to_be_visible()
    finally:
        context.close()
