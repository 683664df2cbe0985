"""The visibility table (docs/security.md) on every route a student can reach, API and dashboard, before and
after release:

| item visibility | before release       | after release                                |
| visible         | name, score, message | name, score, message                         |
| after_release   | name only            | name, score, message                         |
| hidden          | nothing              | name and score; never its message or output  |

Two courseworks hold canaries (``vis_kit``): hidden and after-release scores no sum of visible
items can make, unique strings in hidden messages, comments, titles, an infrastructure error and
an artifact. Results go into the gradebook through the worker's own functions (``complete_run``,
``fail_run``), not by grading notebooks. The routes come from the app itself: every GET route is
called as a student (API token, dashboard session) and as a course system's student-view token,
with every submission and run of the student; each write a student can make is made; every other
route must be in ``STAFF_ONLY`` and refuse the student. Every body (JSON, HTML, CSV, PNG) and
every webhook payload is scanned for canaries.
"""

from __future__ import annotations

import io
import json
import re
import uuid

from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.routing import Mount
from vis_kit import (
    ARTIFACT_ITEMS,
    ARTIFACT_SHA256,
    ARTIFACT_TITLE,
    ARTIFACTS,
    DARK_RUN_SCORE,
    DARK_VISIBLE,
    HIDDEN_ITEM_SCORE,
    INFRA_FINAL,
    INFRA_RETRIED,
    MANUAL_MARKS,
    MIX_RUN_SCORE,
    MIX_TOTAL,
    MIX_VISIBLE,
    RUN_LOG,
    body_text,
    grade,
    grade_staged,
    leaks,
    notebook,
    payload_text,
    queued_full_run,
)

from grader.roster.models import Student
from grader.runs.models import GradingRun, RunStatus
from grader.runs.service import claim_run, fail_run
from grader.users.models import Role
from grader.users.passwords import set_password
from grader.users.service import create_token, create_user
from grader.webhooks.models import WebhookDelivery

PASSWORD = "correct horse battery"
OUR_FAILURE = "grading failed on our side"  # how a student is told of an infrastructure error
CSRF = re.compile(r'(?:name="csrf-token" content|name="csrf_token" value)="([^"]+)"')

# Student-reachable writes: each is made while the gradebook is set up, and its reply scanned.
STUDENT_WRITES = {
    ("POST", "/api/v1/courseworks/{cw}/submissions"),  # submit: the reply is a receipt
    ("POST", "/courseworks/{cw}/submissions"),  # the dashboard's upload form
    ("POST", "/login"),
    ("POST", "/logout"),  # made last
    # A query on an item of a released mark (API and the feedback sheet's form): refused before
    # release, raised (and answered) after it.
    ("POST", "/api/v1/courseworks/{cw}/queries"),
    ("POST", "/courseworks/{cw}/queries"),
}
# Routes no student reaches: called as the student (token and dashboard session), each must answer
# 401/403/404 (or send the page to /login). The GET ones are also called by the course system's
# student-view token below, and scanned: it may read the roster's marks, the export and webhooks.
# Its own writes here (roster import, webhook registration and removal) return no marks.
STAFF_ONLY = {
    # Markers' and lecturers' API.
    ("POST", "/api/v1/submissions/{submission_id}/regrade"),
    ("POST", "/api/v1/submissions/{submission_id}/priority"),
    ("GET", "/api/v1/courseworks/{cw}/marks"),
    ("POST", "/api/v1/courseworks/{cw}/release"),
    ("GET", "/api/v1/courseworks/{cw}/export.csv"),
    ("GET", "/api/v1/submissions/{submission_id}/marking"),
    ("PUT", "/api/v1/submissions/{submission_id}/marks/{item_id}"),
    ("GET", "/api/v1/submissions/{submission_id}/marks/{item_id}/history"),
    ("PUT", "/api/v1/submissions/{submission_id}/penalties/{penalty_id}"),
    ("POST", "/api/v1/submissions/{submission_id}/counting"),
    ("DELETE", "/api/v1/submissions/{submission_id}/counting"),
    ("GET", "/api/v1/courseworks/{cw}/duplicates"),
    ("POST", "/api/v1/roster"),
    ("GET", "/api/v1/roster"),
    ("PUT", "/api/v1/roster/{external_id}/withdrawal"),
    ("DELETE", "/api/v1/roster/{external_id}/withdrawal"),
    ("POST", "/api/v1/roster/{external_id}/erasure"),  # a lecturer erases a withdrawn student's data
    ("POST", "/api/v1/webhooks"),
    ("GET", "/api/v1/webhooks"),
    ("DELETE", "/api/v1/webhooks/{webhook_id}"),
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"),
    # The dashboard's lecturer and marker pages.
    ("GET", "/lecturer/courseworks/{cw}"),
    ("GET", "/lecturer/courseworks/{cw}/progress"),
    ("POST", "/lecturer/courseworks/{cw}/release"),
    ("POST", "/lecturer/courseworks/{cw}/regrade"),
    ("POST", "/lecturer/submissions/{submission_id}/regrade"),
    ("POST", "/lecturer/submissions/{submission_id}/priority"),
    ("GET", "/lecturer/courseworks/{cw}/export.csv"),
    ("GET", "/staff/courseworks/{cw}"),
    ("GET", "/staff/courseworks/{cw}/rows"),
    ("GET", "/staff/submissions/{submission_id}"),
    ("GET", "/staff/submissions/{submission_id}/next"),
    ("PUT", "/staff/submissions/{submission_id}/marks/{item_id}"),
    ("PUT", "/staff/submissions/{submission_id}/penalties/{penalty_id}"),
    ("GET", "/staff/submissions/{submission_id}/marks/{item_id}/history"),
    ("GET", "/staff/runs/{run_id}/notebook"),
    ("GET", "/staff/runs/{run_id}/artifacts/{name}"),
    ("GET", "/lecturer/courseworks/{cw}/marking"),
    ("POST", "/lecturer/courseworks/{cw}/anonymous"),
    ("POST", "/lecturer/courseworks/{cw}/allocations/even"),
    ("POST", "/lecturer/courseworks/{cw}/allocations"),
    ("GET", "/lecturer/courseworks/{cw}/moderation"),
    ("POST", "/lecturer/courseworks/{cw}/moderation/sample"),
    ("POST", "/lecturer/courseworks/{cw}/moderation/picks/{pick_id}"),
    ("GET", "/staff/courseworks/{cw}/items/{item_id}"),
    ("POST", "/staff/courseworks/{cw}/items/{item_id}/comments"),
    ("DELETE", "/staff/courseworks/{cw}/items/{item_id}/comments/{entry_id}"),
    # Extensions and mitigating circumstances (lecturers write, markers read; a student reads only
    # their own deadline, GET /api/v1/courseworks/{cw}/deadline/mine, swept like every GET).
    ("GET", "/api/v1/courseworks/{cw}/extensions"),
    ("PUT", "/api/v1/courseworks/{cw}/extensions/{external_id}"),
    ("DELETE", "/api/v1/courseworks/{cw}/extensions/{external_id}"),
    ("PUT", "/api/v1/courseworks/{cw}/mitigations/{external_id}"),
    ("DELETE", "/api/v1/courseworks/{cw}/mitigations/{external_id}"),
    ("POST", "/api/v1/extensions/import"),
    ("POST", "/api/v1/courseworks/{cw}/extensions/cohort"),
    ("POST", "/lecturer/courseworks/{cw}/extensions/cohort"),
    ("GET", "/lecturer/courseworks/{cw}/extensions"),
    ("POST", "/lecturer/courseworks/{cw}/extensions"),
    ("POST", "/lecturer/courseworks/{cw}/extensions/{external_id}/revoke"),
    ("POST", "/lecturer/courseworks/{cw}/mitigations"),
    ("POST", "/lecturer/courseworks/{cw}/mitigations/{external_id}/withdraw"),
    ("POST", "/lecturer/courseworks/{cw}/extensions/import"),
    # The module's marks (every student's coursework, exam and module mark): the lecturer's alone.
    ("GET", "/api/v1/module/marks"),
    ("GET", "/api/v1/module/registry.csv"),
    ("GET", "/api/v1/module/items.csv"),
    ("POST", "/api/v1/module/exam-marks"),
    ("POST", "/api/v1/module/release"),
    ("GET", "/lecturer/module"),
    ("GET", "/lecturer/module/registry.csv"),
    ("GET", "/lecturer/module/items.csv"),
    ("POST", "/lecturer/module/release"),
    ("POST", "/lecturer/module/exam-marks"),
    # A lecturer's regrade preview on a fixed suite (API and page): staged runs, lecturers only.
    ("POST", "/api/v1/courseworks/{cw}/regrade-previews"),
    ("GET", "/api/v1/courseworks/{cw}/regrade-previews"),
    ("GET", "/api/v1/courseworks/{cw}/regrade-previews/{preview_id}"),
    ("POST", "/api/v1/courseworks/{cw}/regrade-previews/{preview_id}/apply"),
    ("POST", "/api/v1/courseworks/{cw}/regrade-previews/{preview_id}/discard"),
    ("GET", "/lecturer/courseworks/{cw}/regrade-preview"),
    ("POST", "/lecturer/courseworks/{cw}/regrade-preview"),
    ("POST", "/lecturer/courseworks/{cw}/regrade-preview/{preview_id}/apply"),
    ("POST", "/lecturer/courseworks/{cw}/regrade-preview/{preview_id}/discard"),
    # Similarity across the cohort (API and pages): other students' code, lecturers only.
    ("GET", "/api/v1/courseworks/{cw}/similarity"),
    ("GET", "/api/v1/courseworks/{cw}/similarity/compare"),
    ("GET", "/lecturer/courseworks/{cw}/similarity"),
    ("GET", "/lecturer/courseworks/{cw}/similarity/compare"),
    # Queries after release: markers list and answer them, a lecturer sets the window (a student
    # reads their own, GET /api/v1/courseworks/{cw}/queries/mine, swept like every GET).
    ("GET", "/api/v1/courseworks/{cw}/queries"),
    ("POST", "/api/v1/queries/{query_id}/answer"),
    ("PUT", "/api/v1/courseworks/{cw}/query-window"),
    ("GET", "/staff/courseworks/{cw}/queries"),
    ("POST", "/staff/queries/{query_id}/answer"),
    ("POST", "/lecturer/courseworks/{cw}/query-window"),
    # The roster: withdraw and reinstate students (lecturers; the API also service tokens).
    ("GET", "/lecturer/roster"),
    ("POST", "/lecturer/roster/withdraw"),
    ("POST", "/lecturer/roster/{external_id}/reinstate"),
    ("POST", "/lecturer/roster/{external_id}/erase"),  # a lecturer erases a withdrawn student's data
}
# Mounted apps: the dashboard's static files (CSS, JavaScript), the same for everyone, no gradebook.
MOUNTS = {"/static"}
PARAM = re.compile(r"{(\w+)(?::\w+)?}")
DENIED = (401, 403, 404)


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves (HEAD aside), mounts as ("MOUNT", path)."""
    found = set()
    for context in iter_route_contexts(app.routes):
        route = context.route
        if isinstance(route, Mount):
            found.add(("MOUNT", route.path))
            continue
        for method in sorted((context.methods or set()) - {"HEAD"}):
            found.add((method, context.path))
    return found


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match[1]


class Scanner:
    """Every reply a student-side caller got, scanned; problems are collected, then reported together."""

    def __init__(self):
        self.problems: list[str] = []
        self.seen: dict[tuple[str, bool], list[str]] = {}  # (who, released) -> bodies, for positive checks

    def check(self, who: str, what: str, response, *, released: bool) -> None:
        text = body_text(response)
        self.seen.setdefault((who, released), []).append(text)
        if response.status_code >= 500:
            self.problems.append(f"{who} {what}: {response.status_code} {response.text[:200]}")
        for problem in leaks(text, released=released):
            self.problems.append(f"{who} {what} -> {response.status_code}: {problem}")

    def expect(self, condition: bool, what: str) -> None:
        """A check on what the student reads, reported with the leaks rather than stopping the sweep."""
        if not condition:
            self.problems.append(what)

    def text(self, who: str, released: bool) -> str:
        return "\n".join(self.seen.get((who, released), []))


def _people(sessions):
    with sessions() as session:
        alice = create_user(session=session, username="alice", role=Role.student, name="Alice")
        set_password(session=session, user=alice, password=PASSWORD)
        session.add(Student(external_id="s1", name="Alice", email="alice@example.ac.uk", user_id=alice.id))
        bob = create_user(session=session, username="bob", role=Role.student, name="Bob")
        session.add(Student(external_id="s2", name="Bob", user_id=bob.id))
        session.commit()
        lee = create_user(session=session, username="lee", role=Role.lecturer)
        cate = create_user(session=session, username="cate", role=Role.service)
        tokens = {
            "student": create_token(session=session, user=alice)[0],
            "lecturer": create_token(session=session, user=lee)[0],
            "service": create_token(session=session, user=cate)[0],
        }  # the default: the student view
    return {
        "student": {"Authorization": f"Bearer {tokens['student']}"},
        "lecturer": {"Authorization": f"Bearer {tokens['lecturer']}"},
        "service": {"Authorization": f"Bearer {tokens['service']}", "X-On-Behalf-Of": "s1"},
    }


def _sign_in(browser: TestClient, scan: Scanner) -> str:
    form = browser.get("/login")
    reply = browser.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "next": "/", "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    scan.check("session", "POST /login", reply, released=False)
    return csrf_of(browser.get("/").text)


def _fail(sessions, submission_id: str, error: str, *, final: bool) -> None:
    """An infrastructure failure as the worker records it (``fail_run``): retried, or for good."""
    with sessions() as session:
        lease = claim_run(session=session, run_id=queued_full_run(sessions, submission_id), worker_id="vis-worker")
        expected = RunStatus.error if final else RunStatus.queued
        assert (
            fail_run(session=session, lease=lease, error=error, log=RUN_LOG, max_attempts=1 if final else 3) is expected
        )


def _contexts(sessions, submissions: dict[str, tuple[str, str]], webhook_id: int) -> list[dict[str, str]]:
    """Path parameter values: every submission of the student with every one of its runs."""
    out = []
    with sessions() as session:
        for sub_id, (code, _) in submissions.items():
            runs = session.scalars(select(GradingRun.id).where(GradingRun.submission_id == uuid.UUID(sub_id))).all()
            for run_id in runs:
                for name in ARTIFACTS:  # every artifact of the run, whatever item drew it
                    # Visible ids only: a path is echoed in replies (errors, redirects) and must not carry a canary.
                    out.append(
                        {
                            "cw": code,
                            "submission_id": sub_id,
                            "run_id": str(run_id),
                            "name": name,
                            "item_id": "vis_shape" if code == "mix" else "dark_later",
                            "penalty_id": "pen_vis",
                            "webhook_id": str(webhook_id),
                            "pick_id": "1",
                            "entry_id": "1",
                            "external_id": "s1",
                            "preview_id": "1",
                            "query_id": "1",
                        }
                    )
    return out


def _urls(path: str, contexts: list[dict[str, str]]) -> list[str]:
    names = PARAM.findall(path)
    unknown = [n for n in names if n not in contexts[0]]
    assert not unknown, f"{path}: no test value for {unknown}; add one to _contexts so the route is called"
    return sorted({PARAM.sub(lambda m, ctx=ctx: ctx[m[1]], path) for ctx in contexts})


def _denied(response) -> bool:
    if response.status_code in DENIED:
        return True
    return response.status_code == 303 and response.headers.get("location", "").startswith("/login")


def _sweep(
    client: TestClient, browser: TestClient, headers, csrf: str, contexts, routes, scan: Scanner, *, released: bool
) -> None:
    """Every GET route as the student (token and session) and the student-view service token;
    every staff-only write as the student, which must be refused."""
    callers = {
        "student": (client, headers["student"]),
        "service": (client, headers["service"]),
        "session": (browser, {"X-CSRF-Token": csrf}),
    }
    for method, path in sorted(routes):
        if method == "MOUNT" or (method, path) in STUDENT_WRITES:
            continue
        for url in _urls(path, contexts):
            for who, (caller, extra) in callers.items():
                if method != "GET" and who == "service":
                    continue  # its writes return no marks (see STAFF_ONLY)
                body = {"json": {}} if method in ("POST", "PUT") else {}
                reply = caller.request(method, url, headers=extra, follow_redirects=False, **body)
                scan.check(who, f"{method} {url}", reply, released=released)
                if (method, path) in STAFF_ONLY and who != "service" and not _denied(reply):
                    scan.problems.append(f"{who} {method} {url}: staff only, but answered {reply.status_code}")


def _queries(client: TestClient, browser: TestClient, headers, csrf: str, scan: Scanner, *, released: bool) -> None:
    """The student's query writes: refused before release; after it (the window open), one on the
    hidden item by API and one on a visible item by the feedback sheet's form, the first answered
    (the mark unchanged) so the sweep reads an outcome."""
    api = {"item_id": "hid_zq1", "message": "please look at 1d again"}
    form = {"csrf_token": csrf, "item_id": "vis_shape", "message": "and at 1a"}
    if released:
        r = client.put("/api/v1/courseworks/mix/query-window", headers=headers["lecturer"], json={"days": 7})
        assert r.status_code == 200, r.text
    r = client.post("/api/v1/courseworks/mix/queries", headers=headers["student"], json=api)
    scan.check("student", "POST /api/v1/courseworks/mix/queries", r, released=released)
    page = browser.post("/courseworks/mix/queries", data=form, follow_redirects=False)
    scan.check("session", "POST /courseworks/mix/queries", page, released=released)
    if not released:
        scan.expect(r.status_code == 404 and page.status_code == 404, f"a query before release: {r.status_code}")
        return
    assert r.status_code == 201 and page.status_code == 303, (r.text, page.text)
    answer = client.post(
        f"/api/v1/queries/{r.json()['id']}/answer", headers=headers["lecturer"], json={"answer": "It stands."}
    )
    assert answer.status_code == 200, answer.text


def test_a_student_reads_only_what_the_visibility_table_allows_on_every_route(client: TestClient, sessions):
    app = client.app
    scan = Scanner()
    headers = _people(sessions)

    # Every route is called below, made as a write, or listed as staff only; no list names a ghost.
    routes = app_routes(app)
    mounts = {path for method, path in routes if method == "MOUNT"}
    uncovered = sorted(r for r in routes if r[0] not in ("GET", "MOUNT") and r not in STUDENT_WRITES | STAFF_ONLY)
    assert not uncovered, f"routes this test does not call: {uncovered}; add them to STUDENT_WRITES or STAFF_ONLY"
    assert mounts == MOUNTS, f"mounted apps: {mounts}; only {MOUNTS} are known to hold no marks"
    assert (STUDENT_WRITES | STAFF_ONLY) <= routes, f"listed but not served: {(STUDENT_WRITES | STAFF_ONLY) - routes}"

    browser = TestClient(app, base_url="http://127.0.0.1")  # the dashboard session (cookies), apart from tokens
    csrf = _sign_in(browser, scan)

    # Webhooks: the course system's (student view) and the lecturer's (staff), for both events.
    events = ["submission.graded", "submission.grading_failed"]
    hook = client.post(
        "/api/v1/webhooks", headers=headers["service"], json={"url": "http://127.0.0.1:9/cate", "events": events}
    )
    assert hook.status_code == 201, hook.text
    scan.expect(hook.json().get("view") == "student", f"the service's endpoint has the student view: {hook.text}")
    scan.check("service", "POST /api/v1/webhooks", hook, released=False)
    staff_hook = client.post(
        "/api/v1/webhooks", headers=headers["lecturer"], json={"url": "http://127.0.0.1:9/office", "events": events}
    )
    assert staff_hook.status_code == 201, staff_hook.text
    scan.expect(
        staff_hook.json().get("view") == "staff", f"the lecturer's endpoint has the staff view: {staff_hook.text}"
    )

    # The course events (release, a mark changed after it) to a student-view endpoint: scanned below.
    course_hook = client.post(
        "/api/v1/webhooks",
        headers=headers["service"],
        json={"url": "http://127.0.0.1:9/cate-marks", "events": ["marks.released", "mark.changed_after_release"]},
    )
    assert course_hook.status_code == 201, course_hook.text

    # Four submissions: per coursework, a first whose grading failed on our side, then a graded one
    # (the one that counts). Through the API and through the dashboard's form.
    submissions: dict[str, tuple[str, str]] = {}  # id -> (coursework, what happened)

    def api_submit(code: str, n: int) -> str:
        r = client.post(
            f"/api/v1/courseworks/{code}/submissions",
            headers=headers["student"],
            files={"file": (f"{code}.ipynb", notebook(f"print('{code} {n}')"), "application/x-ipynb+json")},
        )
        assert r.status_code == 201, r.text
        scan.check("student", f"POST /api/v1/courseworks/{code}/submissions", r, released=False)
        return r.json()["id"]

    def web_submit(code: str, n: int) -> str:
        r = browser.post(
            f"/courseworks/{code}/submissions",
            data={"csrf_token": csrf, "upload_key": uuid.uuid4().hex},
            files={"file": (f"{code}.ipynb", io.BytesIO(notebook(f"print('{code} {n}')")), "application/octet-stream")},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        scan.check("session", f"POST /courseworks/{code}/submissions", r, released=False)
        return r.headers["location"].rsplit("/", 1)[1]

    retried, failed = api_submit("mix", 1), web_submit("dark", 1)
    _fail(sessions, retried, INFRA_RETRIED, final=False)
    _fail(sessions, failed, INFRA_FINAL, final=True)
    mix, dark = api_submit("mix", 2), web_submit("dark", 2)
    grade(sessions, app, "mix", mix, artifacts=True)
    grade(sessions, app, "dark", dark, artifacts=False)
    submissions.update(
        {retried: ("mix", "retried"), failed: ("dark", "failed"), mix: ("mix", "graded"), dark: ("dark", "graded")}
    )
    for item, score, comment in MANUAL_MARKS:
        r = client.put(
            f"/api/v1/submissions/{mix}/marks/{item}",
            headers=headers["lecturer"],
            json={"score": score, "comment": comment, "expected_version": None},
        )
        assert r.status_code == 200, r.text

    # A lecturer's regrade preview of mix, its staged run graded (a canary in a visible message): it
    # stands for nothing until applied, so nothing below (staff totals, webhooks, every student
    # route before and after release) may show it.
    preview = client.post("/api/v1/courseworks/mix/regrade-previews", headers=headers["lecturer"])
    assert preview.status_code == 201, preview.text
    staged_run = grade_staged(sessions, app, "mix", mix)

    # Markers see every artifact, each attached to the item whose test drew it (none: a penalty's
    # test, a fixture).
    mix_run = next(
        r
        for r in client.get(f"/api/v1/submissions/{mix}", headers=headers["lecturer"]).json()["runs"]
        if r["kind"] == "full"
    )["id"]
    drawn = client.get(f"/api/v1/submissions/{mix}/runs/{mix_run}/artifacts", headers=headers["lecturer"]).json()
    assert {a["name"]: a["item_id"] for a in drawn} == ARTIFACT_ITEMS, drawn
    assert {a["name"]: a["sha256"] for a in drawn} == ARTIFACT_SHA256

    # Staff keep the full view: the score, the total, the infrastructure error's text. And the
    # scanner sees the canaries in what staff read (it would see them in a student's body).
    staff_reply = client.get(f"/api/v1/submissions/{mix}", headers=headers["lecturer"])
    assert any(f"number {MIX_RUN_SCORE}" in p for p in leaks(body_text(staff_reply), released=False)), staff_reply.text
    staff = staff_reply.json()
    assert staged_run not in [r["id"] for r in staff["runs"]]  # the preview's run is in no one's list yet
    assert next(r for r in staff["runs"] if r["kind"] == "full")["score"] == MIX_RUN_SCORE
    staff_failed = client.get(f"/api/v1/submissions/{failed}", headers=headers["lecturer"]).json()
    assert next(r for r in staff_failed["runs"] if r["kind"] == "full")["error"] == INFRA_FINAL
    assert "canary 'CANARY_INFRA'" in leaks(json.dumps(staff_failed), released=True)
    staff_rows = {
        r["external_id"]: r
        for r in client.get("/api/v1/courseworks/mix/marks", headers=headers["lecturer"]).json()["students"]
    }
    assert staff_rows["s1"]["total"] == MIX_TOTAL and staff_rows["s1"]["auto_score"] == MIX_RUN_SCORE
    assert (
        f"{MIX_RUN_SCORE:g},{MIX_TOTAL:g}"
        in client.get("/api/v1/courseworks/mix/export.csv", headers=headers["lecturer"]).text
    )

    # Webhooks: the student-view endpoint is told no score a hidden item is part of; the staff one is.
    with sessions() as session:
        deliveries = session.scalars(select(WebhookDelivery)).all()
        by_endpoint = {}
        for d in deliveries:
            by_endpoint.setdefault(d.endpoint_id, []).append(d.payload)
    cate_payloads, office_payloads = by_endpoint[hook.json()["id"]], by_endpoint[staff_hook.json()["id"]]
    assert len(cate_payloads) == len(office_payloads) == 3  # mix and dark graded, dark failed for good
    for payload in cate_payloads:
        for problem in leaks(payload_text(payload), released=False):
            scan.problems.append(f"webhook payload to the student-view endpoint: {problem}")
    cate_mix = next(p["data"] for p in cate_payloads if p["data"]["submission_id"] == mix)
    scan.expect(
        cate_mix["score"] is None and (cate_mix.get("visible_score"), cate_mix.get("visible_max_score")) == MIX_VISIBLE,
        f"student-view webhook: no score, the visible score {MIX_VISIBLE}: {cate_mix}",
    )
    office_mix = next(p["data"] for p in office_payloads if p["data"]["submission_id"] == mix)
    assert office_mix["score"] == MIX_RUN_SCORE

    # Extensions and mitigating circumstances, the student's own and another's: no reason ever
    # reaches a student, and another student's extension not even its deadline.
    for kind, who, body in (
        ("extensions", "s1", {"deadline": "+90", "reason": "CANARY_EXT_REASON_own"}),
        ("extensions", "s2", {"deadline": "2199-05-04 03:02", "reason": "CANARY_EXT_REASON_other"}),
        ("mitigations", "s2", {"reason": "CANARY_MIT_REASON_other"}),
    ):
        r = client.put(f"/api/v1/courseworks/mix/{kind}/{who}", headers=headers["lecturer"], json=body)
        assert r.status_code == 200, r.text
    own = client.get("/api/v1/courseworks/mix/deadline/mine", headers=headers["student"]).json()
    assert own["extended"], own

    contexts = _contexts(sessions, submissions, hook.json()["id"])
    for released in (False, True):
        if released:
            for code in ("mix", "dark"):
                r = client.post(f"/api/v1/courseworks/{code}/release", headers=headers["lecturer"])
                assert r.status_code == 200, r.text
        _queries(client, browser, headers, csrf, scan, released=released)
        _sweep(client, browser, headers, csrf, contexts, routes, scan, released=released)
        # The staff endpoint's deliveries stay out of the student-view token's reach.
        r = client.get(f"/api/v1/webhooks/{staff_hook.json()['id']}/deliveries", headers=headers["service"])
        scan.expect(
            r.status_code == 404, f"the student-view token reads the staff endpoint's deliveries: {r.status_code}"
        )

        # What the student does read: the runs filtered, the visible feedback, later the rest.
        runs = {}
        for sub in (
            client.get("/api/v1/courseworks/mix/submissions/mine", headers=headers["student"]).json()
            + client.get("/api/v1/courseworks/dark/submissions/mine", headers=headers["student"]).json()
        ):
            runs[sub["id"]] = next(r for r in sub["runs"] if r["kind"] == "full")
        phase = "after release" if released else "before release"
        for sub_id in (retried, failed):
            scan.expect(
                OUR_FAILURE in (runs[sub_id]["error"] or ""),
                f"{phase}: an infrastructure error reads {runs[sub_id]['error']!r}, not a fixed sentence",
            )
        for sub_id, visible in ((mix, MIX_VISIBLE), (dark, DARK_VISIBLE)):
            shown = (runs[sub_id].get("visible_score"), runs[sub_id].get("visible_max_score"))
            scan.expect(shown == visible, f"{phase}: the visible score is {shown}, not {visible}")
        scan.expect(runs[mix]["score"] == (MIX_RUN_SCORE if released else None), f"{phase}: mix run {runs[mix]}")
        scan.expect(runs[dark]["score"] == (DARK_RUN_SCORE if released else None), f"{phase}: dark run {runs[dark]}")
        # The coursework mark once both courseworks are released; the module mark never (not released).
        module = client.get("/api/v1/module/marks/mine", headers=headers["student"]).json()
        scan.expect(
            ("coursework_mark" in module) == released and "module_mark" not in module and "exam_mark" not in module,
            f"{phase}: the student's module marks read {module}",
        )
        marks = client.get("/api/v1/courseworks/mix/marks/mine", headers=headers["student"]).json()
        assert "CANARY_VISIBLE_PEN_MSG_labels" in str(marks["penalties"])
        hidden = [i for i in marks["items"] if i["id"] == "hid_zq1"]
        if released:
            assert marks["total"] == MIX_TOTAL
            assert hidden[0]["score"] == HIDDEN_ITEM_SCORE and "message" not in hidden[0]
        else:
            assert "total" not in marks and hidden == []
        for who in ("student", "session", "service"):
            seen = scan.text(who, released)
            for secret in ("CANARY_EXT_REASON", "CANARY_MIT_REASON", "2199-05-04"):
                scan.expect(
                    secret not in seen, f"{phase}: {who} read {secret} (an extension's reason or another's deadline)"
                )
        for who in ("student", "session"):
            seen = scan.text(who, released)
            assert "CANARY_VISIBLE_MSG_shape" in seen, who  # (the dashboard lists no penalty before release)
            if released:
                assert "CANARY_HIDDEN_TITLE_zq1" in seen and "CANARY_LATER_MSG_values" in seen, who
                assert "CANARY_ESSAY_COMMENT" in seen, who
        # A visible item's artifact at any time (listed and downloaded), an after-release item's once released.
        for who in ("student", "service"):
            seen = scan.text(who, released)
            scan.expect(
                seen.count(ARTIFACT_SHA256["shape-grid"]) >= 2,
                f"{phase}: {who} did not list and download the visible item's artifact",
            )
            if released:
                scan.expect(
                    ARTIFACT_TITLE in seen and seen.count(ARTIFACT_SHA256["grid"]) >= 2,
                    f"{phase}: {who} did not list and download the after-release item's artifact",
                )

    # After release a marker changes the hidden item's override: the student-view endpoint is told
    # its name and new score (as the table allows after release), never a message or comment.
    r = client.put(
        f"/api/v1/submissions/{mix}/marks/hid_zq1",
        headers=headers["lecturer"],
        json={"score": 2.5, "comment": "CANARY_HIDDEN_COMMENT_zq1 again", "expected_version": 1},
    )
    assert r.status_code == 200, r.text
    with sessions() as session:
        course_payloads = [
            d.payload
            for d in session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.endpoint_id == course_hook.json()["id"])
            )
        ]
    assert sorted(p["type"] for p in course_payloads) == [
        "mark.changed_after_release",
        "marks.released",
        "marks.released",
    ]
    for payload in course_payloads:
        for problem in leaks(payload_text(payload), released=True):
            scan.problems.append(f"course event to the student-view endpoint: {problem}")
        scan.expect("CANARY_HIDDEN_COMMENT" not in payload_text(payload), f"a comment in a webhook: {payload}")

    logout = browser.post("/logout", headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    scan.check("session", "POST /logout", logout, released=True)
    assert logout.status_code == 303

    assert not scan.problems, "the student could read:\n" + "\n".join(scan.problems)
