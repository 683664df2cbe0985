"""Similarity over the real app: the lecturer's ranked list and side-by-side pages, the API routes
and the CLI, on submissions uploaded through the dashboard and the API into a real Postgres and
blob store. Lecturers only: GTAs, students and course systems are refused everywhere."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from similarity_kit import ALICE, CAROL, SKELETON, copied, notebook
from web_kit import sign_in, upload

from grader.cli import main
from grader.courseworks.service import coursework_by_code
from grader.marking.allocations import set_anonymous
from grader.users.models import User
from grader.users.service import create_token


@pytest.fixture
def cohort(client, people, sessions, web_settings):
    """cwb with a skeleton; alice's own answer, bob's disguised copy of it, carol's own answer
    (sent by the course system for her). Returns the submission ids by student."""
    (web_settings.rubrics_dir / "cwb" / "skeleton.ipynb").write_bytes(notebook(SKELETON))
    ids = {}
    for who, cells in (("alice", ALICE), ("bob", copied(ALICE))):
        csrf = sign_in(client, who)
        reply = upload(client, csrf, notebook(cells), name="cwb.ipynb", cw="cwb")
        assert reply.status_code == 303, reply.text
        ids[who] = reply.headers["location"].rsplit("/", 1)[1]
    client.cookies.clear()
    reply = client.post(
        "/api/v1/courseworks/cwb/submissions",
        headers={"Authorization": f"Bearer {people.service_token}", "X-On-Behalf-Of": "s3"},
        files={"file": ("cwb.ipynb", notebook(CAROL), "application/octet-stream")},
    )
    assert reply.status_code in (200, 201), reply.text
    ids["carol"] = reply.json()["id"]
    return ids


def token(sessions, people, role: str) -> dict[str, str]:
    with sessions() as session:
        secret, _ = create_token(session=session, user=session.get_one(User, people.user_ids[role]))
    return {"Authorization": f"Bearer {secret}"}


def test_the_lecturer_reads_the_ranked_pairs_and_the_copy_side_by_side(client, people, sessions, cohort):
    sign_in(client, "lee")
    assert 'data-testid="similarity-link"' in client.get("/lecturer/courseworks/cwb").text
    page = client.get("/lecturer/courseworks/cwb/similarity")
    assert page.status_code == 200, page.text
    assert "3 notebooks compared" in page.text
    rows = re.findall(r'<tr data-testid="pair" data-a="([^"]+)" data-b="([^"]+)">(.*?)</tr>', page.text, re.S)
    assert rows, page.text
    first_a, first_b, first_row = rows[0]
    assert {first_a, first_b} == {cohort["alice"], cohort["bob"]}  # the copy on top
    assert "Alice" in first_row and "Bob" in first_row
    top_score = int(re.search(r"<td>(\d+)%</td>", first_row)[1])
    assert top_score >= 80
    for _a, _b, row in rows[1:]:  # carol's own work, if listed at all, far below
        assert int(re.search(r"<td>(\d+)%</td>", row)[1]) < 20

    link = re.search(r'href="([^"]+)" data-testid="compare"', first_row)[1].replace("&amp;", "&")
    side = client.get(link)
    assert side.status_code == 200, side.text
    assert 'data-testid="side-left"' in side.text and 'data-testid="side-right"' in side.text
    left, right = side.text.split('data-testid="side-right"')
    assert 'class="sim-line sim-match" data-match="1"' in left and 'class="sim-line sim-match" data-match="1"' in right
    # The given code (cell 1, show_grid) is never highlighted, on either side.
    given = re.findall(r'<span class="sim-line([^"]*)"[^>]*><span class="sim-no">\d+</span>[^<]*show_grid', side.text)
    assert given and all("sim-match" not in g for g in given)
    assert "<script" not in side.text.split("<main")[1]  # student code is text, never markup
    missing = client.get(f"/lecturer/courseworks/cwb/similarity/compare?a={cohort['alice']}&b=archive-99")
    assert missing.status_code == 404


def test_the_api_gives_the_same_pairs_to_a_lecturer_and_names_students_as_anonymity_says(
    client, people, sessions, cohort
):
    with sessions() as session:
        cw = coursework_by_code(session=session, code="cwb")
        set_anonymous(session=session, coursework_id=cw.id, anonymous=True, by_user_id=people.user_ids["lecturer"])
        session.commit()
    headers = token(sessions, people, "lecturer")
    reply = client.get("/api/v1/courseworks/cwb/similarity", headers=headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["compared"] == 3 and body["unreadable"] == []
    top = body["pairs"][0]
    assert {top["a"]["key"], top["b"]["key"]} == {cohort["alice"], cohort["bob"]} and top["score"] >= 0.8
    # Lecturers see names, with the pseudonym GTAs see alongside.
    assert {top["a"]["label"], top["b"]["label"]} == {"Alice", "Bob"}
    assert top["a"]["pseudonym"] and top["a"]["external_id"] in ("s1", "s2")

    pair = client.get(
        "/api/v1/courseworks/cwb/similarity/compare", params={"a": cohort["alice"], "b": cohort["bob"]}, headers=headers
    )
    assert pair.status_code == 200, pair.text
    pj = pair.json()
    assert pj["listed"]["shared"] == top["shared"] and pj["listed"]["rank"] == 1 and pj["matches"]
    assert all(m["a"]["cell"] != 0 and m["b"] is not None and m["b"]["cell"] != 0 for m in pj["matches"])
    assert len(pj["a_cells"]) == 3 and "show_grid" in pj["a_cells"][0]

    for bad in ({"a": "nope", "b": cohort["bob"]}, {"a": cohort["bob"], "b": cohort["bob"]}):
        r = client.get("/api/v1/courseworks/cwb/similarity/compare", params=bad, headers=headers)
        assert r.status_code in (404, 422) and r.json()["detail"]
    other_cw = client.get(
        "/api/v1/courseworks/cwa/similarity/compare", params={"a": cohort["alice"], "b": cohort["bob"]}, headers=headers
    )
    assert other_cw.status_code == 404  # a submission of another coursework names nothing here


def test_only_lecturers_reach_similarity(client, people, sessions, cohort):
    for role in ("gta", "student"):
        headers = token(sessions, people, role)
        assert client.get("/api/v1/courseworks/cwb/similarity", headers=headers).status_code == 403
        r = client.get(
            "/api/v1/courseworks/cwb/similarity/compare",
            params={"a": cohort["alice"], "b": cohort["bob"]},
            headers=headers,
        )
        assert r.status_code == 403
    service = {"Authorization": f"Bearer {people.service_token}"}
    assert client.get("/api/v1/courseworks/cwb/similarity", headers=service).status_code == 403
    for username in ("gina", "alice"):
        sign_in(client, username)
        assert client.get("/lecturer/courseworks/cwb/similarity").status_code == 403
        compare = f"/lecturer/courseworks/cwb/similarity/compare?a={cohort['alice']}&b={cohort['bob']}"
        assert client.get(compare).status_code == 403


def test_the_cli_reports_and_archives_earlier_years(cohort, sessions, web_settings, web_pg_url, tmp_path, monkeypatch):
    from grader.settings import get_settings

    monkeypatch.setenv("GRADER_DATABASE_URL", web_pg_url)
    monkeypatch.setenv("GRADER_RUBRICS_DIR", str(web_settings.rubrics_dir))
    monkeypatch.setenv("GRADER_BLOB_DIR", str(web_settings.blob_dir))
    get_settings.cache_clear()
    try:
        old = tmp_path / "2024"
        (old / "group1").mkdir(parents=True)
        (old / "group1" / "dan.ipynb").write_bytes(notebook(CAROL))  # carol's answer existed last year
        (old / "broken.ipynb").write_text("not a notebook")
        r = CliRunner().invoke(main, ["similarity", "archive", "add", "2024", str(old), "--coursework", "cwb"])
        assert r.exit_code == 0, r.output
        assert "added 1, already there 0, refused 1" in r.output and "broken.ipynb" in r.output
        again = CliRunner().invoke(main, ["similarity", "archive", "add", "2024", str(old), "--coursework", "cwb"])
        assert "added 0, already there 1" in again.output

        r = CliRunner().invoke(main, ["similarity", "report", "cwb", "--json"])
        assert r.exit_code == 0, r.output
        body = json.loads(r.output)
        assert body["compared"] == 3 and body["archived"] == 1
        top_two = {frozenset((p["a"], p["b"])) for p in body["pairs"][:2]}
        assert frozenset((cohort["alice"], cohort["bob"])) in top_two
        from_archive = [p for p in body["pairs"] if p["b"].startswith("archive-")]
        assert from_archive[0]["a"] == cohort["carol"] and from_archive[0]["score"] >= 0.9
        assert frozenset((cohort["carol"], from_archive[0]["b"])) in top_two
        text = CliRunner().invoke(main, ["similarity", "report", "cwb"])
        assert text.exit_code == 0 and "2024: group1/dan.ipynb" in text.output and "s1 (Alice)" in text.output

        bad = CliRunner().invoke(main, ["similarity", "report", "nope"])
        assert bad.exit_code == 2
        empty = tmp_path / "empty"
        empty.mkdir()
        none = CliRunner().invoke(main, ["similarity", "archive", "add", "2023", str(empty), "--coursework", "cwb"])
        assert none.exit_code == 1 and "no notebook" in none.output
    finally:
        get_settings.cache_clear()


def test_in_the_browser_the_lecturer_follows_the_top_pair_to_the_highlighted_copy(page, cohort, screenshots):
    from playwright.sync_api import expect
    from web_kit import PASSWORD

    page.goto("/lecturer/courseworks/cwb")
    page.fill("input[name=username]", "lee")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.click("[data-testid=similarity-link]")
    first = page.locator("[data-testid=pair]").first
    expect(first).to_contain_text("Alice")
    expect(first).to_contain_text("Bob")
    first.locator("[data-testid=compare]").click()
    expect(page.locator("[data-testid=side-left] .sim-match[data-match='1']").first).to_be_visible()
    expect(page.locator("[data-testid=side-right] .sim-match[data-match='1']").first).to_be_visible()
    expect(page.locator("[data-testid=matches] li").first).to_contain_text("cell 2")
    page.screenshot(path=str(screenshots / "similarity-side-by-side.png"), full_page=True)
