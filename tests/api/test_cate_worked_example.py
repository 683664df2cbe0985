"""docs/cate-labts.md, call by call: the accounts and tokens (the CLI), then every API call of the
worked example in its order, with the same paths, headers and bodies, against the real app and
Postgres. Grading is done as a worker records it (``api_kit.grade``), not in a sandbox.
If the page and the service drift apart, this fails: change both together."""

from __future__ import annotations

import csv
import io
import tarfile
from pathlib import Path

import pytest
from api_kit import grade, notebook
from click.testing import CliRunner

from grader.cli import main
from grader.rubrics.loader import load_coursework
from grader.settings import get_settings

RUBRIC = """\
coursework: cw1
title: "CW1: Make machine learning deep"
version: "1"
weight: 0.4
total_points: 20
deadline: 2099-02-13T19:00:00
timezone: Europe/London
submission: {notebook: cw1.ipynb, max_mb: 1, allow_extra_files: true}
mode: full
parts:
  - {id: p1, title: "Part 1", points: 20}
items:
  - {id: shown, part: p1, title: "1.1 Shown item", points: 5, auto: {tests: ["test_a.py::test_shown"]}}
  - {id: later, part: p1, title: "1.2 Later item", points: 5, auto: {tests: ["test_a.py::test_later"]}, visibility: after_release}
  - {id: secret, part: p1, title: "1.3 Secret item", points: 5, auto: {tests: ["test_a.py::test_secret"]}, visibility: hidden}
  - {id: discussion, part: p1, title: "1.4 Discussion", points: 5, manual: true}
"""
CATE_ID = "2026-70010-cw1-000123"
REPOSITORY = "https://gitlab.doc.ic.ac.uk/lab2526_spring/70010_cw1_aturing.git"
COMMIT = "9fceb02d0ae598e95dc970b74767f19372d61af8"
EVENTS = ["submission.graded", "submission.grading_failed", "marks.released", "mark.changed_after_release"]


@pytest.fixture(scope="module")
def rubrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cate-rubrics")
    (root / "cw1" / "hidden").mkdir(parents=True)
    (root / "cw1" / "rubric.yaml").write_text(RUBRIC)
    (root / "cw1" / "hidden" / "test_a.py").write_text("def test_shown():\n    pass\n")
    return root


@pytest.fixture
def cli(monkeypatch, api_pg_url, settings):
    monkeypatch.setenv("GRADER_DATABASE_URL", api_pg_url)
    monkeypatch.setenv("GRADER_RUBRICS_DIR", str(settings.rubrics_dir))
    get_settings.cache_clear()

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    yield run
    get_settings.cache_clear()


def snapshot() -> bytes:
    """``git archive --format=tar.gz --prefix=70010_cw1_aturing-9fceb02d/ 9fceb02d``, as it would be."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in [
            ("cw1.ipynb", notebook("print('turing')")),
            ("README.md", b"# CW1"),
            ("train.py", b"print('training')"),
        ]:
            info = tarfile.TarInfo(f"70010_cw1_aturing-9fceb02d/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_the_worked_example_of_docs_cate_labts(client, cli, settings, sessions):
    # 0. Accounts and tokens.
    cli("users", "add", "cate", "--role", "service", "--name", "CATe")
    cate_token = cli(
        "token", "create", "cate", "--name", "CATe 2026", "--view", "staff",
        "--scope", "submit", "--scope", "read", "--scope", "roster", "--scope", "export",
    ).split()[0]  # fmt: skip
    cli("users", "add", "labts", "--role", "service", "--name", "LabTS")
    labts_token = cli(
        "token", "create", "labts", "--name", "LabTS 2026", "--scope", "submit", "--scope", "read"
    ).split()[0]
    cli("users", "add", "lee", "--role", "lecturer", "--name", "Dr Lee")
    lecturer_token = cli("token", "create", "lee", "--name", "release").split()[0]
    cate = {"Authorization": f"Bearer {cate_token}"}
    labts = {"Authorization": f"Bearer {labts_token}"}
    lecturer = {"Authorization": f"Bearer {lecturer_token}"}

    # 1. Roster import.
    r = client.post(
        "/api/v1/roster",
        headers=cate,
        json={
            "students": [
                {"external_id": "01234567", "name": "Ada Lovelace", "email": "ada@imperial.ac.uk"},
                {"external_id": "01234568", "name": "Alan Turing", "email": "alan@imperial.ac.uk"},
                {"external_id": "01234569", "name": "Grace Hopper", "email": "grace@imperial.ac.uk"},
            ]
        },
    )
    assert r.status_code == 200 and r.json() == {"created": 3, "updated": 0, "unchanged": 0}, r.text

    # 2. Webhooks.
    r = client.post(
        "/api/v1/webhooks",
        headers=cate,
        json={"url": "https://cate.doc.ic.ac.uk/hooks/grader", "description": "CATe marks", "events": EVENTS},
    )
    assert r.status_code == 201, r.text
    hook = r.json()
    assert hook["view"] == "staff" and hook["secret"].startswith("whsec_")

    # 3. A submission through CATe, with its receipt; the retry gets the same receipt.
    ada_notebook = notebook("print('lovelace')")
    cate_upload = {
        **cate,
        "X-On-Behalf-Of": "01234567",
        "Idempotency-Key": "cate-000123",
        "X-CATe-Submission-Id": CATE_ID,
    }
    r = client.post(
        "/api/v1/courseworks/cw1/submissions", headers=cate_upload, files={"file": ("cw1.ipynb", ada_notebook)}
    )
    assert r.status_code == 201, r.text
    ada = r.json()
    assert (ada["coursework"], ada["late"], ada["cate_submission_id"], ada["labts_commit"]) == (
        "cw1",
        False,
        CATE_ID,
        None,
    )
    assert ada["ignored_files"] == []
    retry = client.post(
        "/api/v1/courseworks/cw1/submissions", headers=cate_upload, files={"file": ("cw1.ipynb", ada_notebook)}
    )
    assert retry.status_code == 200 and retry.json() == ada

    # 4. A repository snapshot through LabTS.
    r = client.post(
        "/api/v1/courseworks/cw1/submissions",
        headers={
            **labts,
            "X-On-Behalf-Of": "01234568",
            "Idempotency-Key": "labts-9fceb02d",
            "X-LabTS-Repository": REPOSITORY,
            "X-LabTS-Commit": COMMIT,
        },
        files={"file": ("snapshot.tar.gz", snapshot())},
    )
    assert r.status_code == 201, r.text
    alan = r.json()
    assert (alan["labts_repository"], alan["labts_commit"]) == (REPOSITORY, COMMIT)
    assert alan["ignored_files"] == ["README.md", "train.py"]

    # 5. Status, and finding a submission by reference.
    r = client.get(f"/api/v1/submissions/{ada['id']}", headers=cate)
    assert r.status_code == 200 and r.json()["status"] == "queued", r.text
    r = client.get(f"/api/v1/courseworks/cw1/submissions/by-reference?cate_submission_id={CATE_ID}", headers=cate)
    assert [s["id"] for s in r.json()] == [ada["id"]], r.text
    rubric = load_coursework("cw1", settings).rubric
    for sub in (ada, alan):
        grade(sessions, rubric, sub["id"])  # 6. what a worker records once it has graded them
    r = client.get(f"/api/v1/courseworks/cw1/submissions/by-reference?labts_commit={COMMIT}", headers=labts)
    assert [(s["id"], s["student_external_id"], s["graded"]) for s in r.json()] == [(alan["id"], "01234568", True)]

    # 6. Grading, and the webhook.
    r = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=cate)
    assert r.status_code == 200, r.text
    assert sorted(
        d["payload"]["data"]["submission_id"] for d in r.json() if d["event_type"] == "submission.graded"
    ) == (sorted([ada["id"], alan["id"]]))
    # The markers' page: exactly the graded file, and the snapshot's ignored ones.
    marking = client.get(f"/api/v1/submissions/{alan['id']}/marking", headers=lecturer).json()
    assert marking["graded_files"] == ["cw1.ipynb"] and marking["ignored_files"] == ["README.md", "train.py"]
    r = client.put(
        f"/api/v1/submissions/{ada['id']}/marks/discussion",
        headers=lecturer,
        json={"score": 3, "comment": "clear", "expected_version": None},
    )
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/courseworks/cw1/feedback/01234567", headers=cate).status_code == 404  # not released

    # 7. Release.
    r = client.post("/api/v1/courseworks/cw1/release", headers=lecturer, json={"note": "CW1 marks"})
    assert r.status_code == 200 and r.json()["released_at"], r.text

    # 8. Marks, feedback sheets and the export.
    r = client.get("/api/v1/courseworks/cw1/marks", headers=cate)
    rows = {row["external_id"]: row for row in r.json()["students"]}
    assert rows["01234567"]["cate_submission_id"] == CATE_ID and rows["01234567"]["total"] == 3 + 2 + 0 + 3
    assert rows["01234568"]["labts_commit"] == COMMIT and rows["01234569"]["status"] == "no_submission"
    r = client.get("/api/v1/courseworks/cw1/feedback/01234567", headers=cate)
    assert r.status_code == 200, r.text
    sheet = r.json()["sheet"]
    items = {i["id"]: i for part in sheet["parts"] for section in part["sections"] for i in section["items"]}
    assert items["discussion"]["comment"] == "clear" and items["secret"]["message"] is None
    assert sheet["total"] == rows["01234567"]["total"]
    r = client.get("/api/v1/courseworks/cw1/export.csv", headers=cate)
    assert r.status_code == 200, r.text
    export = {row["external_id"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert export["01234567"]["cate_submission_id"] == CATE_ID
    assert (export["01234568"]["labts_repository"], export["01234568"]["labts_commit"]) == (REPOSITORY, COMMIT)
    assert export["01234569"]["status"] == "no_submission"

    # 9. A mark changed after release.
    r = client.put(
        f"/api/v1/submissions/{ada['id']}/marks/discussion",
        headers=lecturer,
        json={"score": 4, "comment": "re-marked", "expected_version": 1},
    )
    assert r.status_code == 200, r.text
    events = [d["payload"] for d in client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=cate).json()]
    assert sorted(e["type"] for e in events) == sorted(
        ["submission.graded", "submission.graded", "marks.released", "mark.changed_after_release"]
    )
    changed = next(e["data"] for e in events if e["type"] == "mark.changed_after_release")
    assert (changed["student_external_id"], changed["item_id"], changed["old_score"], changed["new_score"]) == (
        "01234567",
        "discussion",
        3.0,
        4.0,
    )
    assert "re-marked" not in str(events)  # comments stay behind the feedback sheet
    assert client.get("/api/v1/courseworks/cw1/feedback/01234567", headers=cate).json()["sheet"]["total"] == 9
