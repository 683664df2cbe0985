"""Every route, called by every role: allowed or denied as the table says.

The table must name every route the app has (a new route without a row fails the test), and a
student never reads another student's submission or marks.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from api_kit import notebook, upload
from artifact_kit import grade_with_artifacts, png
from marking_kit import marking_rubrics
from sqlalchemy import select, update

from grader.courseworks.service import coursework_by_code
from grader.db.clock import db_now
from grader.marking.query_models import MarkQuery, QueryStatus
from grader.roster.models import Student
from grader.runs.models import GradingRun
from grader.runs.preview_models import PreviewStatus, RegradePreview
from grader.runs.service import claim_run, fail_run
from grader.submissions import regrade_preview as rp
from grader.submissions.models import Submission
from grader.submissions.run_queue import NoWakeUps
from grader.users.models import User

ROLES = ("anonymous", "student", "other", "gta", "lecturer", "service")
EVERYONE = set(ROLES)
PUBLIC = {
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/api/v1/health"),
}

# (method, path) -> roles allowed. "student" owns the submission {submission_id}; "other" does not;
# the service acts for "student" (X-On-Behalf-Of: s1).
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("POST", "/api/v1/courseworks/{cw}/submissions"): {"student", "other", "service"},
    ("GET", "/metrics"): {"gta", "lecturer", "service"},  # or the metrics token (test_metrics_access.py)
    ("GET", "/api/v1/submissions/{submission_id}"): {"student", "gta", "lecturer", "service"},
    ("GET", "/api/v1/submissions/{submission_id}/file"): {"student", "gta", "lecturer", "service"},
    ("GET", "/api/v1/courseworks/{cw}/submissions/mine"): {"student", "other", "service"},
    ("POST", "/api/v1/submissions/{submission_id}/regrade"): {"gta", "lecturer"},
    ("GET", "/api/v1/courseworks/{cw}/marks/mine"): {"student", "other", "service"},
    ("GET", "/api/v1/courseworks"): {"student", "other", "gta", "lecturer", "service"},  # the list, tutorials too
    ("GET", "/api/v1/courseworks/{cw}/marks"): {"gta", "lecturer", "service"},
    ("POST", "/api/v1/courseworks/{cw}/release"): {"lecturer"},
    ("GET", "/api/v1/courseworks/{cw}/export.csv"): {"lecturer", "service"},
    ("POST", "/api/v1/roster"): {"lecturer", "service"},
    ("GET", "/api/v1/roster"): {"lecturer", "service"},
    ("PUT", "/api/v1/roster/{external_id}/withdrawal"): {"lecturer", "service"},
    ("DELETE", "/api/v1/roster/{external_id}/withdrawal"): {"lecturer", "service"},
    ("POST", "/api/v1/roster/{external_id}/erasure"): {"lecturer"},  # erasing a student's data: never a course system
    ("POST", "/api/v1/webhooks"): {"lecturer", "service"},
    ("GET", "/api/v1/webhooks"): {"lecturer", "service"},
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): {"lecturer", "service"},
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): {"lecturer", "service"},
    ("GET", "/api/v1/submissions/{submission_id}/marking"): {"gta", "lecturer"},
    ("PUT", "/api/v1/submissions/{submission_id}/marks/{item_id}"): {"gta", "lecturer"},
    ("GET", "/api/v1/submissions/{submission_id}/marks/{item_id}/history"): {"gta", "lecturer"},
    ("PUT", "/api/v1/submissions/{submission_id}/penalties/{penalty_id}"): {"gta", "lecturer"},
    ("POST", "/api/v1/submissions/{submission_id}/counting"): {"lecturer"},
    ("DELETE", "/api/v1/submissions/{submission_id}/counting"): {"lecturer"},
    ("POST", "/api/v1/submissions/{submission_id}/priority"): {"lecturer"},
    ("GET", "/api/v1/courseworks/{cw}/duplicates"): {"gta", "lecturer"},
    # The course systems' routes (docs/cate-labts.md); never a GTA, who may be marking anonymously.
    ("GET", "/api/v1/courseworks/{cw}/submissions/by-reference"): {"lecturer", "service"},
    ("GET", "/api/v1/courseworks/{cw}/feedback/{external_id}"): {"lecturer", "service"},
    # A student lists a run's artifacts as their items' visibility allows; the table runs before the
    # release, and its artifact is an after-release item's. The service here has the staff view.
    ("GET", "/api/v1/submissions/{submission_id}/runs/{run_id}/artifacts"): {"student", "gta", "lecturer", "service"},
    ("GET", "/api/v1/submissions/{submission_id}/runs/{run_id}/artifacts/{name}"): {"gta", "lecturer", "service"},
    # Extensions and mitigating circumstances: lecturers write them, markers read them, a student
    # (or the service acting for one) reads their own deadline only.
    ("GET", "/api/v1/courseworks/{cw}/extensions"): {"gta", "lecturer"},
    ("PUT", "/api/v1/courseworks/{cw}/extensions/{external_id}"): {"lecturer"},
    ("DELETE", "/api/v1/courseworks/{cw}/extensions/{external_id}"): {"lecturer"},
    ("PUT", "/api/v1/courseworks/{cw}/mitigations/{external_id}"): {"lecturer"},
    ("DELETE", "/api/v1/courseworks/{cw}/mitigations/{external_id}"): {"lecturer"},
    ("POST", "/api/v1/extensions/import"): {"lecturer"},
    ("POST", "/api/v1/courseworks/{cw}/extensions/cohort"): {"lecturer"},
    # Queries after release: a student raises and reads their own (before release: "not released
    # yet"); markers list and answer them; a lecturer sets the window.
    ("POST", "/api/v1/courseworks/{cw}/queries"): {"student", "other", "service"},
    ("GET", "/api/v1/courseworks/{cw}/queries/mine"): {"student", "other", "service"},
    ("GET", "/api/v1/courseworks/{cw}/queries"): {"gta", "lecturer"},
    ("POST", "/api/v1/queries/{query_id}/answer"): {"gta", "lecturer"},
    ("PUT", "/api/v1/courseworks/{cw}/query-window"): {"lecturer"},
    ("GET", "/api/v1/courseworks/{cw}/deadline/mine"): {"student", "other", "service"},
    # The module's marks: every student's, the lecturer's alone; a student's own (or the service's for them).
    ("GET", "/api/v1/module/marks"): {"lecturer"},
    ("GET", "/api/v1/module/registry.csv"): {"lecturer"},
    ("GET", "/api/v1/module/items.csv"): {"lecturer"},
    ("POST", "/api/v1/module/exam-marks"): {"lecturer"},
    ("POST", "/api/v1/module/release"): {"lecturer"},
    ("GET", "/api/v1/module/marks/mine"): {"student", "other", "service"},
    # A regrade preview on a fixed suite: lecturers alone (each call that names one gets a fresh one).
    ("POST", "/api/v1/courseworks/{cw}/regrade-previews"): {"lecturer"},
    ("GET", "/api/v1/courseworks/{cw}/regrade-previews"): {"lecturer"},
    ("GET", "/api/v1/courseworks/{cw}/regrade-previews/{preview_id}"): {"lecturer"},
    ("POST", "/api/v1/courseworks/{cw}/regrade-previews/{preview_id}/apply"): {"lecturer"},
    ("POST", "/api/v1/courseworks/{cw}/regrade-previews/{preview_id}/discard"): {"lecturer"},
    # Similarity across the cohort: other students' code side by side, lecturers alone.
    ("GET", "/api/v1/courseworks/{cw}/similarity"): {"lecturer"},
    ("GET", "/api/v1/courseworks/{cw}/similarity/compare"): {"lecturer"},
    **{route: EVERYONE for route in PUBLIC},
}
# The table runs before the release: an allowed caller is told "not released yet" (404); after
# the release it gets the sheet (tests/api/test_cate_references.py).
NOT_RELEASED_YET = {
    ("GET", "/api/v1/courseworks/{cw}/feedback/{external_id}"),
    ("POST", "/api/v1/courseworks/{cw}/queries"),
    ("GET", "/api/v1/courseworks/{cw}/queries/mine"),
}
# Reading a submission that is not yours says "not found": it does not confirm the id exists.
DENIED_AS_NOT_FOUND = {
    ("GET", "/api/v1/submissions/{submission_id}"),
    ("GET", "/api/v1/submissions/{submission_id}/file"),
    ("GET", "/api/v1/submissions/{submission_id}/runs/{run_id}/artifacts"),
    ("GET", "/api/v1/submissions/{submission_id}/runs/{run_id}/artifacts/{name}"),
}


@pytest.fixture(scope="module")
def rubrics_dir(tmp_path_factory: pytest.TempPathFactory):
    # cwa with a penalty, so the penalty route has one to decide.
    return marking_rubrics(tmp_path_factory.mktemp("roles_rubrics"))


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route, included routers flattened."""
    found: set[tuple[str, str]] = set()

    def walk(routes):
        for route in routes:
            contexts = getattr(route, "effective_route_contexts", None)
            if contexts is not None:  # FastAPI keeps included routers as one entry
                for ctx in contexts():
                    methods = getattr(ctx.original_route, "methods", None) or set()
                    found.update((m, ctx.path) for m in methods if m != "HEAD")
            elif getattr(route, "path", None):
                found.update((m, route.path) for m in (getattr(route, "methods", None) or ()) if m != "HEAD")

    walk(app.routes)
    return found


def call(client, method: str, path: str, headers: dict[str, str], values: dict[str, str]):
    # A callable value makes a fresh one per call (each allowed role deletes its own webhook).
    if path.endswith("/erasure"):  # each call erases a withdrawn student of its own
        external_id = values["erasable"]()
        body = {"reason": "the student asked", "confirm": external_id}
        return client.post(f"/api/v1/roster/{external_id}/erasure", headers=headers, json=body)
    url = path.format(**{k: v() if callable(v) and f"{{{k}}}" in path else v for k, v in values.items()})
    if path.endswith("/by-reference"):
        return client.get(url, headers=headers, params={"labts_commit": "0" * 40})
    if path.endswith("/similarity/compare"):
        return client.get(url, headers=headers, params={"a": values["submission_id"], "b": values["other_submission"]})
    if method == "GET":
        return client.get(url, headers=headers)
    if method == "DELETE":
        return client.delete(url, headers=headers)
    if method == "PUT" and path.endswith("/withdrawal"):
        return client.put(url, headers=headers, json={"on": "2026-03-02", "reason": "left the course"})
    if method == "PUT" and path.endswith("/query-window"):
        return client.put(url, headers=headers, json={"days": 7})
    if path.endswith("/queries"):
        return client.post(url, headers=headers, json={"item_id": "essay", "message": "please look again"})
    if path.endswith("/answer"):
        return client.post(url, headers=headers, json={"answer": "looked again: it stands"})
    if method == "PUT" and ("/extensions/" in path or "/mitigations/" in path):
        return client.put(url, headers=headers, json={"deadline": "+60", "reason": "ill"})
    if method == "PUT":  # a mark or a penalty decision, naming the version this caller can read
        body = {"score": 1, "comment": "ok"} if "/marks/" in path else {"applied": False, "comment": "lifted"}
        body["expected_version"] = _version(client, path, headers, values)
        return client.put(url, headers=headers, json=body)
    if path.endswith("/counting"):
        return client.post(url, headers=headers, json={"reason": "the student asked"})
    if path.endswith("/submissions"):
        return client.post(
            url, headers=headers, files={"file": ("cwa.ipynb", notebook("z = 3"), "application/x-ipynb+json")}
        )
    if path.endswith("/webhooks"):
        return client.post(url, headers=headers, json={"url": "https://cate.example.ac.uk/hooks"})
    if path.endswith("/extensions/cohort"):
        return client.post(url, headers=headers, json={"deadline": "+60", "reason": "an outage"})
    if path.endswith("/extensions/import"):
        return client.post(url, headers=headers, json={"csv": "s2,cwa,+30,ill\n"})
    if path.endswith("/exam-marks"):
        return client.post(url, headers=headers, json={"csv": "external_id,mark\ns1,70\n"})
    if path.endswith("/regrade-previews"):
        values["no_pending_preview"]()  # one pending preview per coursework: this call starts one
    if path.endswith("/apply"):  # its runs all failed: it changes no one's mark
        return client.post(url, headers=headers, json={"changed": 0})
    if path.endswith("/roster"):
        return client.post(url, headers=headers, json={"students": [{"external_id": "s9", "name": "Nia"}]})
    return client.post(url, headers=headers)


def _version(client, path: str, headers: dict[str, str], values: dict[str, str]) -> int | None:
    sheet = client.get("/api/v1/submissions/{submission_id}/marking".format(**values), headers=headers)
    if sheet.status_code != 200:
        return None
    if "/marks/" in path:
        mark = next(i for i in sheet.json()["items"] if i["id"] == values["item_id"])["mark"]
        return mark["version"] if mark else None
    return next(p for p in sheet.json()["penalties"] if p["id"] == values["penalty_id"])["version"]


def withdrawn_student(sessions) -> str:
    """A new student, withdrawn: one a lecturer may erase on request."""
    with sessions() as session:
        student = Student(external_id=f"gone-{uuid.uuid4().hex[:8]}", name="Gone", withdrawn_at=db_now(session))
        session.add(student)
        session.commit()
        return student.external_id


def open_query(sessions, submission_id: str) -> int:
    """A fresh open query on the submission, for gina to answer (the earlier ones closed): as if
    raised after release, which this table runs before."""
    with sessions() as session:
        session.execute(update(MarkQuery).values(status=QueryStatus.answered))
        sub = session.get_one(Submission, uuid.UUID(submission_id))
        gina = session.scalars(select(User.id).where(User.username == "gina")).one()
        query = MarkQuery(
            coursework_id=sub.coursework_id,
            student_id=sub.student_id,
            submission_id=sub.id,
            item_id="essay",
            message="please look again",
            raised_by_id=gina,
            raised_at=dt.datetime.now(dt.UTC),
            assigned_to_id=gina,
        )
        session.add(query)
        session.commit()
        return query.id


def no_pending_preview(sessions) -> None:
    with sessions() as session:
        for preview in session.scalars(select(RegradePreview).where(RegradePreview.status == PreviewStatus.pending)):
            rp.discard_preview(session=session, preview=preview, lecturer_id=preview.created_by_id)


def failed_preview(client, sessions) -> int:
    """A fresh pending preview of cwa whose staged runs all failed (it applies, changing nothing)."""
    no_pending_preview(sessions)
    files = client.app.state.courseworks["cwa"]
    with sessions() as session:
        lee = session.scalars(select(User.id).where(User.username == "lee")).one()
        preview = rp.start_preview(
            session=session,
            coursework=coursework_by_code(session=session, code="cwa"),
            rubric=files.rubric,
            digests=rp.suite_digests(files),
            lecturer_id=lee,
            queue="cpu",
            run_queue=NoWakeUps(),
        )
        for run_id in session.scalars(select(GradingRun.id).where(GradingRun.preview_id == preview.id)).all():
            lease = claim_run(session=session, run_id=run_id, worker_id="roles")
            fail_run(session=session, lease=lease, error="no worker here", max_attempts=1)
        return preview.id


def test_the_table_names_every_route(client):
    # The dashboard's pages (grader/web, session sign-in) have their own matrix: tests/web/test_web_roles.py.
    api = ("/api/", "/metrics", "/openapi", "/docs", "/redoc")
    routes = {r for r in app_routes(client.app) if r[1].startswith(api)}
    assert routes == set(ALLOWED), f"missing from table: {routes - set(ALLOWED)}; stale: {set(ALLOWED) - routes}"
    openapi_paths = {(m.upper(), p) for p, ops in client.get("/openapi.json").json()["paths"].items() for m in ops}
    assert openapi_paths <= routes


def test_every_route_for_every_role(client, people, sessions):
    sub = upload(client, people.headers["student"], notebook("mine = 1")).json()
    theirs = upload(client, people.headers["other"], notebook("theirs = 2")).json()
    run_id = grade_with_artifacts(
        sessions,
        client.app.state.blobs,
        client.app.state.courseworks["cwa"].rubric,
        sub["id"],
        {"samples": png(9)},
        tests={},
        items={"samples": "later"},
    )
    values = {
        "cw": "cwa",
        "submission_id": sub["id"],
        "item_id": "essay",
        "penalty_id": "layers",
        "run_id": str(run_id),
        "name": "samples",
        # Each call finds an extension and mitigating circumstances to revoke (granted afresh).
        "external_id": lambda: _adjusted(client, people.headers["lecturer"]),
        "webhook_id": lambda: client.post(
            "/api/v1/webhooks", headers=people.headers["lecturer"], json={"url": "https://cate.example.ac.uk/hooks"}
        ).json()["id"],
        "preview_id": lambda: failed_preview(client, sessions),
        "no_pending_preview": lambda: no_pending_preview(sessions),
        "other_submission": theirs["id"],
        "erasable": lambda: withdrawn_student(sessions),
        "query_id": lambda: open_query(sessions, sub["id"]),
    }
    failures = []
    for (method, path), allowed in sorted(ALLOWED.items()):
        for role in ROLES:
            r = call(client, method, path, people.headers[role], values)
            if role in allowed and (method, path) in NOT_RELEASED_YET:
                ok = r.status_code == 404 and "not released" in r.json()["detail"]
            elif role in allowed:
                ok = r.status_code < 400
            elif role == "anonymous":
                ok = r.status_code == 401
            elif role == "other" and (method, path) in DENIED_AS_NOT_FOUND:
                ok = r.status_code == 404
            else:
                ok = r.status_code == 403
            if not ok:
                failures.append(f"{role:9} {method} {path}: {r.status_code} {r.text[:120]}")
            if r.status_code >= 400:
                assert r.headers["content-type"].startswith("application/json"), (role, path)
                assert set(r.json()) == {"detail"} and isinstance(r.json()["detail"], str), (role, path, r.text)
            if role == "other" and r.status_code < 400 and path not in ("/openapi.json",):
                # Whatever another student may read holds nothing of the first student's.
                assert sub["id"] not in r.text and sub["sha256"] not in r.text, (method, path)
    assert not failures, "\n".join(failures)


def _adjusted(client, lecturer: dict[str, str]) -> str:
    for kind in ("extensions", "mitigations"):
        r = client.put(f"/api/v1/courseworks/cwa/{kind}/s2", headers=lecturer, json={"deadline": "+90", "reason": "x"})
        assert r.status_code == 200, r.text
    return "s2"
