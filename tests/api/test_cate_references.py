"""Course systems' references on submissions (CATe's id, LabTS's repository and commit), the lookup
by reference, anonymity, and the feedback sheet as JSON for a service token."""

from __future__ import annotations

from api_kit import grade, notebook, upload
from sqlalchemy import func, select

from grader.courseworks.service import coursework_by_code
from grader.marking.allocations import set_anonymous
from grader.rubrics.loader import load_coursework
from grader.submissions.models import Submission
from grader.submissions.quota_models import UploadAttempt

SHA = "0123456789abcdef0123456789abcdef01234567"
REPO = "https://gitlab.doc.ic.ac.uk/lab2526_spring/cwa_alice.git"
LABTS = {"X-LabTS-Repository": REPO, "X-LabTS-Commit": SHA.upper()}  # stored in lower case


def _count(sessions, model) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_service_token_stores_a_reference_returned_in_the_receipt_marks_and_export(
    client, people, settings, sessions
):
    service = {**people.headers["service"], "X-CATe-Submission-Id": "cate-2026-cwa-000123"}
    nb = notebook()  # the same bytes for the retry (a new notebook has new cell ids)
    r = upload(client, service, nb, key="cate-000123")
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert receipt["cate_submission_id"] == "cate-2026-cwa-000123" and receipt["labts_commit"] is None
    # A retry with the same key: the same receipt, the reference kept.
    again = upload(client, service, nb, key="cate-000123")
    assert again.status_code == 200 and again.json() == receipt

    labts = upload(client, {**people.headers["service"], **LABTS}, notebook("print(2)"))
    assert labts.status_code == 201, labts.text
    assert (labts.json()["labts_repository"], labts.json()["labts_commit"]) == (REPO, SHA)
    grade(sessions, load_coursework("cwa", settings).rubric, labts.json()["id"])

    rows = client.get("/api/v1/courseworks/cwa/marks", headers=people.headers["lecturer"]).json()["students"]
    s1 = next(row for row in rows if row["external_id"] == "s1")
    assert (s1["labts_repository"], s1["labts_commit"]) == (REPO, SHA)  # the counting (latest) submission's
    csv = client.get("/api/v1/courseworks/cwa/export.csv", headers=people.headers["lecturer"]).text
    assert csv.splitlines()[0].endswith("cate_submission_id,labts_repository,labts_commit")
    assert f",{REPO},{SHA}" in csv

    found = client.get(
        "/api/v1/courseworks/cwa/submissions/by-reference",
        params={"cate_submission_id": "cate-2026-cwa-000123"},
        headers=people.headers["service"],
    )
    assert found.status_code == 200, found.text
    assert [(s["id"], s["student_external_id"], s["graded"]) for s in found.json()] == [(receipt["id"], "s1", False)]
    by_commit = client.get(
        "/api/v1/courseworks/cwa/submissions/by-reference",
        params={"labts_commit": SHA},
        headers=people.headers["lecturer"],
    ).json()
    assert [(s["id"], s["graded"]) for s in by_commit] == [(labts.json()["id"], True)]
    none = client.get(
        "/api/v1/courseworks/cwa/submissions/by-reference",
        params={"cate_submission_id": "nope"},
        headers=people.headers["service"],
    )
    assert none.status_code == 200 and none.json() == []


def test_a_student_cannot_claim_a_reference_and_nothing_is_stored_or_counted(client, people, sessions):
    attempts = _count(sessions, UploadAttempt)
    for headers in ({"X-CATe-Submission-Id": "cate-1"}, LABTS):
        r = upload(client, {**people.headers["student"], **headers}, notebook())
        assert r.status_code == 403 and "service token" in r.json()["detail"]
    assert _count(sessions, Submission) == 0 and _count(sessions, UploadAttempt) == attempts
    assert upload(client, people.headers["student"], notebook()).status_code == 201
    assert (
        _count(sessions, UploadAttempt) == attempts + 1
    )  # (an accepted upload is counted: the check above means something)
    for who in ("student", "gta"):
        r = client.get(
            "/api/v1/courseworks/cwa/submissions/by-reference",
            params={"labts_commit": SHA},
            headers=people.headers[who],
        )
        assert r.status_code == 403


def test_a_bad_reference_is_refused_with_a_reason_and_nothing_stored(client, people, sessions):
    bad = [
        ({"X-LabTS-Repository": REPO, "X-LabTS-Commit": "1234"}, "40 (SHA-1) or 64"),
        ({"X-LabTS-Repository": REPO, "X-LabTS-Commit": "g" * 40}, "hexadecimal"),
        ({"X-LabTS-Repository": "http://gitlab.example/r.git", "X-LabTS-Commit": SHA}, "https://"),
        ({"X-LabTS-Repository": "https://u:pw@gitlab.example/r.git", "X-LabTS-Commit": SHA}, "user name"),
        ({"X-LabTS-Repository": "https://gitlab.example/" + "r" * 500, "X-LabTS-Commit": SHA}, "longer than 500"),
        ({"X-LabTS-Commit": SHA}, "both the repository URL and the commit"),
        ({"X-CATe-Submission-Id": "=cmd|' /C calc'!A0"}, "CATe submission id"),
    ]
    for headers, reason in bad:
        r = upload(client, {**people.headers["service"], **headers}, notebook())
        assert r.status_code == 400 and reason in r.json()["detail"], (headers, r.text)
    assert _count(sessions, Submission) == 0
    r = client.get(
        "/api/v1/courseworks/cwa/submissions/by-reference",
        params={"labts_commit": "xyz"},
        headers=people.headers["service"],
    )
    assert r.status_code == 400
    r = client.get("/api/v1/courseworks/cwa/submissions/by-reference", headers=people.headers["service"])
    assert r.status_code == 400 and "name a reference" in r.json()["detail"]
    sha256 = "ab" * 32
    ok = upload(client, {**people.headers["service"], "X-LabTS-Repository": REPO, "X-LabTS-Commit": sha256}, notebook())
    assert ok.status_code == 201 and ok.json()["labts_commit"] == sha256  # SHA-256 object names too


def test_under_anonymous_marking_a_gta_is_not_shown_the_reference(client, people, settings, sessions):
    sub = upload(client, {**people.headers["service"], **LABTS, "X-CATe-Submission-Id": "cate-9"}, notebook()).json()
    grade(sessions, load_coursework("cwa", settings).rubric, sub["id"])
    with sessions() as session:
        cw = coursework_by_code(session=session, code="cwa")
        set_anonymous(session=session, coursework_id=cw.id, anonymous=True, by_user_id=1)
    for path in (f"/api/v1/submissions/{sub['id']}", f"/api/v1/submissions/{sub['id']}/marking"):
        gta = client.get(path, headers=people.headers["gta"])
        assert gta.status_code == 200, gta.text
        assert REPO not in gta.text and SHA not in gta.text and "cate-9" not in gta.text, path
        lecturer = client.get(path, headers=people.headers["lecturer"]).json()
        assert (lecturer["labts_repository"], lecturer["cate_submission_id"]) == (REPO, "cate-9"), path
    marks = client.get("/api/v1/courseworks/cwa/marks", headers=people.headers["gta"]).text
    assert REPO not in marks and SHA not in marks and "cate-9" not in marks
    page = client.get("/api/v1/submissions/" + sub["id"] + "/marking", headers=people.headers["lecturer"]).json()
    assert page["graded_files"] == ["cwa.ipynb"] and page["ignored_files"] == []


def test_the_feedback_sheet_as_json_only_after_release_and_only_for_course_systems(client, people, settings, sessions):
    sub = upload(client, people.headers["student"], notebook()).json()
    grade(sessions, load_coursework("cwa", settings).rubric, sub["id"])
    r = client.get("/api/v1/courseworks/cwa/feedback/s1", headers=people.headers["service"])
    assert r.status_code == 404 and "not released" in r.json()["detail"]
    assert client.get("/api/v1/courseworks/cwa/feedback/s1", headers=people.headers["student"]).status_code == 403
    assert client.get("/api/v1/courseworks/cwa/feedback/s1", headers=people.headers["gta"]).status_code == 403
    assert client.post("/api/v1/courseworks/cwa/release", headers=people.headers["lecturer"]).status_code == 200

    r = client.get("/api/v1/courseworks/cwa/feedback/s1", headers=people.headers["service"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["submission_id"] == sub["id"] and body["student_external_id"] == "s1"
    items = {i["id"]: i for p in body["sheet"]["parts"] for s in p["sections"] for i in s["items"]}
    assert items["secret"]["score"] == 3.0 and items["secret"]["message"] is None  # hidden: never its message
    assert items["shown"]["message"] == "shape (3, 3) expected, got (3, 4)"
    assert items["later"]["message"] == "later: wrong values"
    # The same sheet the student's own page shows (one builder): the same numbers on both.
    assert (
        body["sheet"]["total"]
        == client.get("/api/v1/courseworks/cwa/marks/mine", headers=people.headers["student"]).json()["total"]
    )
    # cwa's weight alone (0.4) makes no whole, so the page shows no "Coursework mark" table and the
    # JSON none either (tests/api/test_module_marks.py reads one that does).
    assert body["weighting"] is None
    assert client.get("/api/v1/courseworks/cwa/feedback/s3", headers=people.headers["service"]).status_code == 404
    assert client.get("/api/v1/courseworks/cwa/feedback/nobody", headers=people.headers["service"]).status_code == 404


def test_grader_reference_find(client, people, settings, sessions, monkeypatch, api_pg_url):
    import json

    from click.testing import CliRunner

    from grader.cli import main
    from grader.settings import get_settings

    sub = upload(client, {**people.headers["service"], **LABTS, "X-CATe-Submission-Id": "cate-7"}, notebook()).json()
    monkeypatch.setenv("GRADER_DATABASE_URL", api_pg_url)
    monkeypatch.setenv("GRADER_RUBRICS_DIR", str(settings.rubrics_dir))
    get_settings.cache_clear()
    try:
        for args in (
            ["--cate-id", "cate-7"],
            ["--labts-commit", SHA],
            ["--labts-commit", SHA, "--labts-repository", REPO],
        ):
            r = CliRunner().invoke(main, ["reference", "find", "cwa", *args])
            assert r.exit_code == 0, r.output
            [line] = r.stdout.splitlines()
            found = json.loads(line)
            assert (found["submission_id"], found["student_external_id"], found["labts_commit"]) == (
                sub["id"],
                "s1",
                SHA,
            )
        r = CliRunner().invoke(main, ["reference", "find", "cwa", "--cate-id", "nope"])
        assert r.exit_code == 0 and r.stdout == ""
        for bad in (["--labts-commit", "xyz"], [], ["--labts-repository", REPO]):
            r = CliRunner().invoke(main, ["reference", "find", "cwa", *bad])
            assert r.exit_code == 2 and "Traceback" not in r.output, r.output
        r = CliRunner().invoke(main, ["reference", "find", "nope", "--cate-id", "cate-7"])
        assert r.exit_code == 2 and "no coursework" in r.output
    finally:
        get_settings.cache_clear()
