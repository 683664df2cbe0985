"""Markers see exactly the notebook that was graded: uploads through the real API (a zip with a
decoy placed first), then the real question view, the marker's download and the rendered notebook
on the marking page (rendered as the worker renders it). Crafted zips stored before intake refused
them do not break these readers, and a notebook too slow to render says so to the marker."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import nbformat
import pytest
from crafted_zips import with_flag, with_method, zipped
from sqlalchemy import select, update
from web_kit import grade, sign_in

from grader.blobs import LocalBlobStore
from grader.courseworks.models import Coursework
from grader.runs.models import GradingRun
from grader.settings import RenderLimits
from grader.submissions.models import Submission
from grader.submissions.service import record_submission
from grader.users.models import User
from grader.users.service import create_token


def answer(words: str) -> bytes:
    return nbformat.writes(
        nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_markdown_cell(f"## 2.1 Training curves\n{words}"),
                nbformat.v4.new_code_cell(
                    "plot()",
                    execution_count=1,
                    outputs=[nbformat.v4.new_output("stream", name="stdout", text=f"printed: {words}\n")],
                ),
            ]
        )
    ).encode()


REAL, DECOY = answer("REAL-ANSWER the loss rises after epoch 8"), answer("DECOY-ANSWER written for the marker")

DECOYS_FIRST = {
    "in .ipynb_checkpoints": [(".ipynb_checkpoints/cwa.ipynb", DECOY), ("cwa.ipynb", REAL)],
    "in __MACOSX": [("__MACOSX/cwa.ipynb", DECOY), ("cwa.ipynb", REAL)],
    "a nested checkpoint": [("hw/.ipynb_checkpoints/cwa.ipynb", DECOY), ("hw/cwa.ipynb", REAL)],
}


def api_upload(client, sessions, username: str, data: bytes, name: str = "cwa.zip") -> uuid.UUID:
    """``username`` uploads ``data`` through the API with a token of their own; a worker grades it."""
    with sessions() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        token, _ = create_token(session=s, user=user)
    r = client.post(
        "/api/v1/courseworks/cwa/submissions",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": (name, data, "application/octet-stream")},
    )
    assert r.status_code == 201, r.text
    sub_id = uuid.UUID(r.json()["id"])
    grade(sessions, client.app.state.courseworks["cwa"].rubric, sub_id)
    return sub_id


def render_like_the_worker(client, sessions, sub_id: uuid.UUID, limits: RenderLimits | None = None) -> int:
    """What ``workers.run_outputs`` stores with a run: ``marker_page`` of the submission's stored file."""
    from grader.notebooks.marker_page import marker_page

    settings = client.app.state.settings
    store = LocalBlobStore(settings.blob_dir)
    with sessions() as s:
        sub = s.get(Submission, sub_id)
        run = s.scalars(
            select(GradingRun).where(GradingRun.submission_id == sub_id, GradingRun.status == "graded")
        ).one()
        page = marker_page(
            blob_path(settings, sub),
            notebook_name="cwa.ipynb",
            title="cwa",
            limits=limits or settings.render,
            max_bytes=1 << 20,
        )
        key = store.put(io.BytesIO(page)).sha256
        s.execute(update(GradingRun).where(GradingRun.id == run.id).values(rendered_notebook_key=key))
        s.commit()
        return run.id


def blob_path(settings, sub: Submission) -> Path:
    """Where the local blob store keeps the submission's file."""
    return LocalBlobStore(settings.blob_dir).path(sub.blob_key)


def curves_answer(client, student: str) -> str:
    page = client.get("/staff/courseworks/cwa/items/curves")
    assert page.status_code == 200, page.text
    start = page.text.index(f'data-student="{student}"')
    return page.text[start : page.text.index("</article>", start)]


@pytest.mark.parametrize("members", DECOYS_FIRST.values(), ids=DECOYS_FIRST.keys())
def test_the_question_view_and_the_download_show_the_graded_notebook_not_a_decoy(client, people, sessions, members):
    sub = api_upload(client, sessions, "alice", zipped(members))
    sign_in(client, "gina")
    shown = curves_answer(client, "s1")
    assert "REAL-ANSWER" in shown and "printed: REAL-ANSWER" in shown and "DECOY" not in shown
    download = client.get(f"/staff/submissions/{sub}/notebook")
    assert download.status_code == 200, download.text
    assert download.content == REAL
    assert download.headers["content-disposition"] == 'attachment; filename="cwa.ipynb"'
    marking = client.get(f"/staff/submissions/{sub}")
    assert f'href="/staff/submissions/{sub}/notebook"' in marking.text


@pytest.mark.parametrize("members", DECOYS_FIRST.values(), ids=DECOYS_FIRST.keys())
def test_the_rendered_notebook_on_the_marking_page_is_the_graded_one(client, people, sessions, members):
    sub = api_upload(client, sessions, "alice", zipped(members))
    run_id = render_like_the_worker(client, sessions, sub)
    sign_in(client, "gina")
    assert f'src="/staff/runs/{run_id}/notebook"' in client.get(f"/staff/submissions/{sub}").text
    rendered = client.get(f"/staff/runs/{run_id}/notebook")
    assert rendered.status_code == 200
    assert "REAL-ANSWER" in rendered.text and "DECOY" not in rendered.text


def test_the_downloads_are_for_markers_only(client, people, sessions):
    sub = api_upload(client, sessions, "alice", zipped(DECOYS_FIRST["in .ipynb_checkpoints"]))
    sign_in(client, "alice")
    r = client.get(f"/staff/submissions/{sub}/notebook", follow_redirects=False)
    assert r.status_code in (403, 404) and REAL not in r.content
    sign_in(client, "gina")
    assert client.get(f"/staff/submissions/{uuid.uuid4()}/notebook").status_code == 404


CRAFTED = {
    "encrypted": (lambda z: with_flag(z, "cwa.ipynb", 0x1), "encrypted"),
    "Deflate64": (lambda z: with_method(z, "cwa.ipynb", 9), "deflate64"),
}


@pytest.mark.parametrize(("craft", "reason"), CRAFTED.values(), ids=CRAFTED.keys())
def test_a_crafted_zip_stored_before_the_checks_existed_breaks_no_marker_view(client, people, sessions, craft, reason):
    """Such a zip is refused at upload now; one already in the gradebook must still not give 500s."""
    data = craft(zipped([("cwa.ipynb", REAL)]))
    store = LocalBlobStore(client.app.state.settings.blob_dir)
    blob = store.put(io.BytesIO(data))
    with sessions() as s:  # the row as the API recorded it then (record_submission, minus today's checks)
        cwa = s.scalars(select(Coursework.id).where(Coursework.code == "cwa")).one()
        sub, _ = record_submission(
            session=s,
            coursework_id=cwa,
            student_id=people.student_ids["student"],
            sha256=blob.sha256,
            size_bytes=blob.size,
            original_filename="cwa.zip",
            blob_key=blob.sha256,
        )
        sub_id = sub.id
    sign_in(client, "gina")
    shown = curves_answer(client, "s1")
    assert "the notebook could not be read" in shown and reason in shown.lower()
    download = client.get(f"/staff/submissions/{sub_id}/notebook")
    assert download.status_code == 422 and reason in download.text.lower()

    from grader.notebooks.marker_page import marker_page
    from grader.notebooks.reading import NotebookUnreadable

    with pytest.raises(NotebookUnreadable, match=reason):
        marker_page(
            blob_path(client.app.state.settings, sub),
            notebook_name="cwa.ipynb",
            title="cwa",
            limits=RenderLimits(),
            max_bytes=1 << 20,
        )


def test_a_notebook_too_slow_to_render_tells_the_marker_so(client, people, sessions):
    slow = nbformat.writes(
        nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_code_cell(
                    "show()", outputs=[nbformat.v4.new_output("display_data", data={"text/html": "<div>" * 40_000})]
                )
            ]
        )
    ).encode()
    sub = api_upload(client, sessions, "alice", slow, name="cwa.ipynb")
    run_id = render_like_the_worker(client, sessions, sub, RenderLimits(timeout_s=3))
    sign_in(client, "gina")
    rendered = client.get(f"/staff/runs/{run_id}/notebook")
    assert rendered.status_code == 200
    assert "The notebook could not be rendered in time (the limit is 3 s)" in rendered.text
    assert client.get(f"/staff/submissions/{sub}/notebook").content == slow  # still there to download
