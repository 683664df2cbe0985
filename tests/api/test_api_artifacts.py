"""A run's artifacts over the API: markers at once, the student as the drawing item's visibility
allows, served as PNG only."""

from __future__ import annotations

import io
import uuid

import numpy as np
from api_kit import notebook, upload
from artifact_kit import grade_with_artifacts, png
from PIL import Image
from sqlalchemy import select

from grader.runs.models import GradingRun


def graded(client, people, sessions) -> tuple[str, int]:
    sub = upload(client, people.headers["student"], notebook("mine = 1")).json()
    rubric = client.app.state.courseworks["cwa"].rubric
    run_id = grade_with_artifacts(
        sessions, client.app.state.blobs, rubric, sub["id"], {"samples": png(200), "loss-curve": png(7, (4, 5))}
    )
    return sub["id"], run_id


def test_markers_list_and_fetch_the_pngs(client, people, sessions):
    sub, run = graded(client, people, sessions)
    base = f"/api/v1/submissions/{sub}/runs/{run}/artifacts"
    for role in ("gta", "lecturer"):
        listed = client.get(base, headers=people.headers[role])
        assert listed.status_code == 200, listed.text
        assert [(a["name"], a["title"], a["media_type"]) for a in listed.json()] == [
            ("samples", "samples title", "image/png"),
            ("loss-curve", "loss-curve title", "image/png"),
        ]
        for a in listed.json():
            assert a["url"] == f"{base}/{a['name']}"
            r = client.get(a["url"], headers=people.headers[role])
            assert r.status_code == 200
            assert r.headers["content-type"] == "image/png"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["content-security-policy"] == "default-src 'none'"
            assert len(r.content) == a["size_bytes"] and r.headers["x-content-sha256"] == a["sha256"]
    pixels = np.asarray(Image.open(io.BytesIO(client.get(f"{base}/loss-curve", headers=people.headers["gta"]).content)))
    assert pixels.shape == (4, 5) and (pixels == 7).all()


def test_the_marking_view_lists_them(client, people, sessions):
    sub, run = graded(client, people, sessions)
    sheet = client.get(f"/api/v1/submissions/{sub}/marking", headers=people.headers["gta"]).json()
    assert [a["name"] for a in sheet["artifacts"]] == ["samples", "loss-curve"]
    assert sheet["run"]["id"] == run


def test_students_see_each_as_its_items_visibility_allows(client, people, sessions):
    sub = upload(client, people.headers["student"], notebook("mine = 1")).json()["id"]
    drawn = {"shown-grid": png(10), "later-grid": png(20), "secret-grid": png(30), "fixture-grid": png(40)}
    run = grade_with_artifacts(
        sessions,
        client.app.state.blobs,
        client.app.state.courseworks["cwa"].rubric,
        sub,
        drawn,
        items={"shown-grid": "shown", "later-grid": "later", "secret-grid": "secret"},
    )
    base = f"/api/v1/submissions/{sub}/runs/{run}/artifacts"
    student = people.headers["student"]

    def listed(role):
        r = client.get(base, headers=people.headers[role])
        assert r.status_code == 200, r.text
        return [a["name"] for a in r.json()]

    assert listed("service") == list(drawn)  # this API suite's service token has the staff view
    # Before release: the visible item's only; the after-release one is promised; the rest do not exist.
    assert listed("student") == ["shown-grid"]
    r = client.get(f"{base}/shown-grid", headers=student)
    assert r.status_code == 200 and r.content == drawn["shown-grid"]
    r = client.get(f"{base}/later-grid", headers=student)
    assert r.status_code == 403 and "released" in r.json()["detail"], r.text
    for name in ("secret-grid", "fixture-grid"):
        r = client.get(f"{base}/{name}", headers=student)
        assert r.status_code == 404 and r.json() == {"detail": "this run has no such artifact."}, name
    assert listed("gta") == list(drawn)
    assert client.post("/api/v1/courseworks/cwa/release", headers=people.headers["lecturer"]).status_code == 200
    # After release the after-release item's too; a hidden item's output and one of no item never.
    assert listed("student") == ["shown-grid", "later-grid"]
    r = client.get(f"{base}/later-grid", headers=student)
    assert r.status_code == 200 and r.content == drawn["later-grid"]
    for name in ("secret-grid", "fixture-grid"):
        assert client.get(f"{base}/{name}", headers=student).status_code == 404, name
    for name, data in drawn.items():  # markers keep every one
        assert client.get(f"{base}/{name}", headers=people.headers["lecturer"]).content == data
    # Another student never learns the run exists, released or not.
    for url in (base, f"{base}/shown-grid"):
        assert client.get(url, headers=people.headers["other"]).status_code == 404


def test_unknown_runs_and_names_are_not_found(client, people, sessions):
    sub, run = graded(client, people, sessions)
    other_sub = upload(client, people.headers["other"], notebook("theirs = 2")).json()["id"]
    gta = people.headers["gta"]
    for url in (
        f"/api/v1/submissions/{sub}/runs/{run}/artifacts/nope",
        f"/api/v1/submissions/{sub}/runs/{run}/artifacts/..%2F..%2Fetc",
        f"/api/v1/submissions/{sub}/runs/999999/artifacts",
        f"/api/v1/submissions/{other_sub}/runs/{run}/artifacts",  # a run of another submission
        f"/api/v1/submissions/{other_sub}/runs/{run}/artifacts/samples",
    ):
        r = client.get(url, headers=gta)
        assert r.status_code == 404 and set(r.json()) == {"detail"}, (url, r.text)
    assert client.get(f"/api/v1/submissions/{sub}/runs/x/artifacts", headers=gta).status_code == 422


def test_a_run_without_artifacts_lists_none(client, people, sessions):
    sub = upload(client, people.headers["student"], notebook("mine = 1")).json()["id"]
    with sessions() as s:
        run_id = s.scalars(select(GradingRun.id).where(GradingRun.submission_id == uuid.UUID(sub))).first()
    r = client.get(f"/api/v1/submissions/{sub}/runs/{run_id}/artifacts", headers=people.headers["lecturer"])
    assert r.status_code == 200 and r.json() == []
