"""Every dashboard route for every role: the anonymous are sent to sign in, students reach no staff
page and nothing of another student's, GTAs no lecturer page. Routes are read from the app, so a
new page is covered the day it is added (staff pages live under /staff and /lecturer)."""

from __future__ import annotations

import importlib
import re

import pytest
from web_kit import grade, notebook, sign_in, upload

from grader.web.app import route_modules

STAFF_PREFIXES = ("/staff", "/lecturer", "/web/")
PUBLIC = {"/login", "/login/sso", "/login/sso/callback"}  # sign-on: before anyone is signed in
GTA_ALLOWED = {"/lecturer/submissions/{submission_id}/regrade"}  # markers may ask for a regrade


def web_routes(app=None) -> list[tuple[str, str]]:
    """(method, path) of every route the dashboard's route modules define."""
    out = []
    for name in route_modules():
        for route in getattr(importlib.import_module(name), "router", None).routes:
            for method in sorted(route.methods - {"HEAD"}):
                out.append((method, route.path))
    return out


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: ids.get(m[1], ids["default"]), path)


@pytest.fixture
def world(client, people, sessions):
    """alice's graded submission; everyone's CSRF token, so refusals are about roles, not tokens."""
    csrf = sign_in(client, "alice")
    reply = upload(client, csrf, notebook())
    sub_id = reply.headers["location"].rsplit("/", 1)[1]
    run_id = grade(sessions, client.app.state.courseworks["cwa"].rubric, sub_id)
    return {
        "cw": "cwa",
        "submission_id": sub_id,
        "run_id": str(run_id),
        "item_id": "curves",
        "item": "curves",
        "penalty_id": "nolabels",
        "default": "1",
    }


def _call(client, method: str, url: str, csrf: str):
    return client.request(
        method,
        url,
        data={"csrf_token": csrf} if method != "GET" else None,
        headers={"X-CSRF-Token": csrf} if method != "GET" else {},
        follow_redirects=False,
    )


def test_there_are_routes_to_check(client):
    paths = {p for _, p in web_routes(client.app)}
    assert {
        "/",
        "/login",
        "/courseworks/{cw}",
        "/courseworks/{cw}/feedback",
        "/lecturer/courseworks/{cw}",
        "/staff/courseworks/{cw}/items/{item_id}",
        "/lecturer/courseworks/{cw}/moderation",
    } <= paths


def test_the_anonymous_are_sent_to_sign_in_everywhere(client, world):
    client.cookies.clear()
    for method, path in web_routes(client.app):
        if path in PUBLIC:
            continue
        reply = _call(client, method, fill(path, world), "")
        assert reply.status_code == 303 and reply.headers["location"].startswith("/login"), (method, path)


def test_students_reach_no_staff_page(client, world):
    csrf = sign_in(client, "alice")
    for method, path in web_routes(client.app):
        if path.startswith(STAFF_PREFIXES):
            reply = _call(client, method, fill(path, world), csrf)
            assert reply.status_code in (403, 404), (method, path, reply.status_code)


def test_another_student_reaches_nothing_of_alices(client, world):
    csrf = sign_in(client, "bob")
    for method, path in web_routes(client.app):
        if "{submission_id}" in path or "{run_id}" in path:
            reply = _call(client, method, fill(path, world), csrf)
            assert reply.status_code in (403, 404), (method, path, reply.status_code)
            assert world["submission_id"] not in reply.text


def test_gtas_reach_no_lecturer_page_and_no_student_page(client, world):
    csrf = sign_in(client, "gina")
    for method, path in web_routes(client.app):
        if path.startswith("/lecturer") and path not in GTA_ALLOWED:
            assert _call(client, method, fill(path, world), csrf).status_code == 403, (method, path)
    for path in ("/courseworks/{cw}", "/courseworks/{cw}/feedback", "/submissions/{submission_id}"):
        assert _call(client, "GET", fill(path, world), csrf).status_code == 403, path


def test_lecturers_reach_their_pages(client, world):
    csrf = sign_in(client, "lee")
    for path in (
        "/",
        "/lecturer/courseworks/cwa",
        "/lecturer/courseworks/cwa/progress",
        "/lecturer/courseworks/cwa/export.csv",
        "/lecturer/courseworks/cwa/marking",
        "/lecturer/courseworks/cwa/moderation",
        "/lecturer/courseworks/cwa/regrade-preview",
        "/lecturer/courseworks/cwa/similarity",
        "/staff/courseworks/cwa/items/curves",
        "/lecturer/module",
        "/lecturer/module/registry.csv",
        "/lecturer/module/items.csv",
        "/lecturer/roster",
    ):
        assert _call(client, "GET", path, csrf).status_code == 200, path
    assert _call(client, "GET", "/lecturer/courseworks/nope", csrf).status_code == 404
    # The roster's erasure form: reached by a lecturer, refused by its own rule (no confirmation typed).
    reply = _call(client, "POST", "/lecturer/roster/s1/erase", csrf)
    assert reply.status_code == 422 and "confirmation field" in reply.text
