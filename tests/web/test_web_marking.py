"""The markers' pages over the real app (TestClient, real Postgres): the overview, the marking page,
saving marks and penalties (409 on a stale version), the rendered notebook's headers, and who may
reach what."""

from __future__ import annotations

import io
import re
import uuid

import nbformat
import pytest
from sqlalchemy import select, update
from web_kit import grade, sign_in, upload

from grader.blobs import LocalBlobStore
from grader.marking.models import MarkChange
from grader.notebooks.render import RENDER_CSP, render_notebook
from grader.runs.models import GradingRun
from grader.scoring.outcomes import TestOutcome, TestResult
from grader.submissions.models import Submission

# Our own test results (not web_kit's, which other tests may change): auto 1.6 + 3 + 1.8 = 6.4 of 10.
RESULTS = {
    "test_a.py::test_shown": TestResult(TestOutcome.failed, 0.4, "shape (3, 3) expected, got (3, 4)"),
    "test_a.py::test_later": TestResult(TestOutcome.passed, 1.0, "later: all values right"),
    "test_a.py::test_secret": TestResult(TestOutcome.failed, 0.6, "secret: hidden expected [1, 2]"),
}

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def submitted(client, sessions, username: str, rendered: bool = True) -> tuple[uuid.UUID, int]:
    """``username`` uploads a notebook with outputs; a worker grades it and stores its render."""
    csrf = sign_in(client, username)
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "plot()",
                execution_count=1,
                outputs=[
                    nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
                    nbformat.v4.new_output("stream", name="stdout", text=f"{username} trained at home\n"),
                ],
            )
        ]
    )
    data = nbformat.writes(nb).encode()
    assert upload(client, csrf, data).status_code == 303
    with sessions() as s:
        sub = s.scalars(select(Submission).order_by(Submission.received_at.desc())).first()
    run_id = grade(sessions, client.app.state.courseworks["cwa"].rubric, sub.id, RESULTS)
    if rendered:
        key = (
            LocalBlobStore(client.app.state.settings.blob_dir)
            .put(io.BytesIO(render_notebook(data, title="cwa")))
            .sha256
        )
        with sessions() as s:
            s.execute(update(GradingRun).where(GradingRun.id == run_id).values(rendered_notebook_key=key))
            s.commit()
    client.cookies.clear()
    return sub.id, run_id


def put(client, csrf: str, url: str, body: dict):
    return client.put(url, json=body, headers={"X-CSRF-Token": csrf, "X-Requested-With": "fetch"})


def test_the_overview_lists_every_student_with_status_scores_progress_and_charts(client, people, sessions):
    sub_id, _ = submitted(client, sessions, "alice")
    csrf = sign_in(client, "gina")
    page = client.get("/staff/courseworks/cwa")
    assert page.status_code == 200, page.text
    html = page.text
    rows = {m[1]: m[0] for m in re.finditer(r'<tr data-student="([^"]+)".*?</tr>', html, re.S)}
    assert set(rows) == {"s1", "s2", "s3"}  # non-submitters listed
    alice = rows["s1"]
    assert 'data-status="graded"' in alice and "0 / 2" in alice  # two manual items, none marked
    assert f"/staff/submissions/{sub_id}" in alice
    # auto: shown 0.4*4 + later 3 + secret 0.6*3 = 6.4 of 20
    assert ">6.4<" in alice and "6.4 / 20" in alice
    assert 'data-status="no_submission"' in rows["s3"]
    assert html.count("<svg") == 1 + 5 and 'data-testid="hist-total"' in html  # totals + one per item
    assert "<script>" not in html  # the page's CSP forbids inline scripts; charts are plain SVG

    assert "s1" not in client.get("/staff/courseworks/cwa", params={"q": "bob"}).text.split("<tbody")[1]
    only = client.get("/staff/courseworks/cwa", params={"status": "graded"}).text.split("<tbody")[1]
    assert 'data-student="s1"' in only and 'data-student="s2"' not in only
    by_total = client.get("/staff/courseworks/cwa", params={"sort": "total", "desc": "1"}).text
    assert by_total.index('data-student="s1"') < by_total.index('data-student="s2"')
    assert client.get("/staff/courseworks/cwa", params={"sort": "nonsense"}).status_code == 400
    assert client.get("/staff/courseworks/cwa", params={"status": "bogus"}).status_code == 400
    assert client.get("/staff/courseworks/nope").status_code == 404

    # The poll's fragment follows a mark without a reload.
    assert (
        put(
            client,
            csrf,
            f"/staff/submissions/{sub_id}/marks/curves",
            {"score": 5, "comment": "clear", "expected_version": None},
        ).status_code
        == 200
    )
    frag = client.get("/staff/courseworks/cwa/rows", headers={"X-Requested-With": "fetch"}).json()
    assert frag["done"] is False and "1 / 2" in frag["html"] and "11.4 / 20" in frag["html"]


def test_the_marking_page_shows_the_notebook_sandboxed_with_hidden_messages_and_the_run(client, people, sessions):
    sub_id, run_id = submitted(client, sessions, "alice")
    sign_in(client, "gina")
    html = client.get(f"/staff/submissions/{sub_id}").text
    frame = re.search(r"<iframe[^>]*>", html).group(0)
    assert re.search(r"\ssandbox(\s|>)", frame) and "allow-" not in frame  # no scripts, no same origin
    assert f'src="/staff/runs/{run_id}/notebook"' in frame
    assert "secret: hidden expected [1, 2]" in html  # GTAs see hidden items' messages
    assert "shape (3, 3) expected, got (3, 4)" in html
    assert 'data-testid="item-curves"' in html and 'data-testid="penalty-nolabels"' in html
    # an imported check run in the student's kernel says so on its item, and only there
    assert re.findall(r'data-testid="in-kernel-([^"]+)"', html) == ["later"]
    assert 'data-testid="run-log"' in html and '<script src="/static/marking.js"' in html

    nb = client.get(f"/staff/runs/{run_id}/notebook")
    assert nb.status_code == 200
    assert nb.headers["content-security-policy"] == RENDER_CSP
    assert nb.headers["x-content-type-options"] == "nosniff"
    assert "alice trained at home" in nb.text and f"base64,{PNG}" in nb.text
    assert client.get("/staff/runs/999999/notebook").status_code == 404


def test_marks_save_at_once_with_history_and_a_stale_save_gets_409_with_the_other_value(client, people, sessions):
    sub_id, _ = submitted(client, sessions, "alice")
    url = f"/staff/submissions/{sub_id}/marks/curves"
    gina = sign_in(client, "gina")
    first = put(client, gina, url, {"score": 4, "comment": "good curves", "expected_version": None})
    assert first.status_code == 200, first.text
    assert first.json()["mark"]["version"] == 1 and first.json()["total"]["total"] == pytest.approx(10.4)

    lee = sign_in(client, "lee")  # a second marker who read version 1
    assert put(client, lee, url, {"score": 5, "comment": "very good", "expected_version": 1}).status_code == 200
    gina = sign_in(client, "gina")
    stale = put(client, gina, url, {"score": 2, "comment": "weak", "expected_version": 1})
    assert stale.status_code == 409
    current = stale.json()["current"]
    assert current["score"] == 5 and current["comment"] == "very good" and current["updated_by"] == "lee"
    with sessions() as s:
        changes = s.scalars(select(MarkChange).order_by(MarkChange.version)).all()
        assert [(c.old_score, c.new_score) for c in changes] == [(None, 4), (4, 5)]  # the 409 wrote nothing
    history = client.get(f"{url}/history", headers={"X-Requested-With": "fetch"}).json()
    assert [h["changed_by"] for h in history] == ["gina", "lee"]

    # Penalties tick the same way; bad input changes nothing.
    pen = f"/staff/submissions/{sub_id}/penalties/nolabels"
    ticked = put(client, gina, pen, {"applied": True, "expected_version": None})
    assert ticked.status_code == 200 and ticked.json()["total"]["penalty_points"] == 1
    assert put(client, gina, pen, {"applied": False, "expected_version": None}).status_code == 409
    assert put(client, gina, url, {"score": 7, "comment": "", "expected_version": 2}).status_code == 422  # over 6
    assert put(client, gina, url, {"score": "3", "comment": "", "expected_version": 2}).status_code == 422
    assert (
        put(client, gina, f"/staff/submissions/{sub_id}/marks/nope", {"score": 1, "expected_version": None}).status_code
        == 404
    )
    bad = client.put(url, content=b"[1", headers={"X-CSRF-Token": gina, "Content-Type": "application/json"})
    assert bad.status_code == 400
    no_csrf = client.put(
        url, json={"score": 1, "comment": "", "expected_version": 2}, headers={"X-Requested-With": "fetch"}
    )
    assert no_csrf.status_code == 403
    with sessions() as s:
        assert s.scalar(select(MarkChange.new_score).order_by(MarkChange.version.desc())) == 5


def test_next_unmarked_skips_marked_submissions_and_wraps(client, people, sessions):
    alice, _ = submitted(client, sessions, "alice", rendered=False)
    bob, _ = submitted(client, sessions, "bob", rendered=False)
    gina = sign_in(client, "gina")
    assert (
        client.get(f"/staff/submissions/{alice}/next", follow_redirects=False).headers["location"]
        == f"/staff/submissions/{bob}"
    )
    assert (
        client.get(f"/staff/submissions/{bob}/next", follow_redirects=False).headers["location"]
        == f"/staff/submissions/{alice}"
    )
    for item in ("curves", "design"):
        assert (
            put(
                client,
                gina,
                f"/staff/submissions/{alice}/marks/{item}",
                {"score": 1, "comment": "", "expected_version": None},
            ).status_code
            == 200
        )
    assert (
        client.get(f"/staff/submissions/{bob}/next", follow_redirects=False).headers["location"]
        == "/staff/courseworks/cwa?unmarked=1"
    )
    assert "No rendered notebook" in client.get(f"/staff/submissions/{bob}").text


def test_students_and_strangers_reach_no_markers_page(client, people, sessions):
    sub_id, run_id = submitted(client, sessions, "alice")
    pages = [
        "/staff/courseworks/cwa",
        "/staff/courseworks/cwa/rows",
        f"/staff/submissions/{sub_id}",
        f"/staff/submissions/{sub_id}/next",
        f"/staff/runs/{run_id}/notebook",
        f"/staff/submissions/{sub_id}/marks/curves/history",
        f"/staff/runs/{run_id}/artifacts/grid",
    ]
    for path in pages:
        reply = client.get(path, follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"].startswith("/login"), path
    for student in ("alice", "bob"):  # their own submission included
        csrf = sign_in(client, student)
        for path in pages:
            assert client.get(path, follow_redirects=False).status_code == 403, (student, path)
        reply = put(
            client,
            csrf,
            f"/staff/submissions/{sub_id}/marks/curves",
            {"score": 6, "comment": "", "expected_version": None},
        )
        assert reply.status_code == 403
    with sessions() as s:
        assert s.scalar(select(MarkChange.id)) is None
    sign_in(client, "lee")
    assert client.get(f"/staff/submissions/{sub_id}").status_code == 200
    assert client.get(f"/staff/submissions/{uuid.uuid4()}").status_code == 404
    assert client.get("/staff/submissions/not-a-uuid").status_code == 404
