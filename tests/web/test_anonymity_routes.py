"""Anonymous marking that is real: every route of the app (JSON API and dashboard, read from the app
itself, so a new route is covered the day it is added), called as a GTA on an anonymous coursework
whose students' names, external ids, emails, usernames, user and roster ids and uploaded file names
are unique canary strings, answers none of them; lists come in pseudonym order, not roster order;
pseudonyms are stored, random and stable. Real app, real Postgres (tests/web/conftest.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import uuid

import nbformat
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from starlette.routing import Mount
from web_kit import give_password, grade, sign_in, upload

from grader.courseworks.models import Coursework
from grader.marking.query_models import MarkQuery
from grader.roster.models import Student
from grader.runs.models import GradingRun
from grader.server import create_app
from grader.submissions.models import Submission
from grader.users.models import Role, User
from grader.users.service import create_token

LABEL = re.compile(r"Candidate \d{6}")
# A JSON body every unsafe route parses (each model ignores the fields it does not know), so writes
# are checked too, not only refused for a missing body.
ANY_BODY = {
    "score": 1.0,
    "comment": "looks fine",
    "expected_version": None,
    "applied": True,
    "text": "a kept comment",
    "reason": "the later file counts",
    "note": "",
    "students": [],
    "url": "https://example.org/hook",
    "events": [],
}


def answer_notebook(words: str) -> bytes:
    return nbformat.writes(
        nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_markdown_cell("## 2.1 Training curves\n" + words),
                nbformat.v4.new_code_cell("plot_curves()"),
                nbformat.v4.new_markdown_cell("## 2.2 Design choices\nWe used dropout."),
            ]
        )
    ).encode()


class Canary:
    """One student whose every identifying value is unique and random."""

    def __init__(self, n: int):
        tag = secrets.token_hex(4)
        self.first, self.last = f"Zoltan{tag}", f"Quimby{tag}"
        self.name = f"{self.first} {self.last}"
        self.external_id = f"EXT{tag}{n}"
        self.email = f"mail{tag}@canary.example"
        self.username = f"user{tag}"
        self.filename = f"{self.last}_{self.external_id}_coursework.ipynb"
        self.user_id = 900_000_000 + secrets.randbelow(99_999_999)
        self.student_id = 800_000_000 + secrets.randbelow(99_999_999)

    def strings(self) -> list[str]:
        return [
            self.first,
            self.last,
            self.external_id,
            self.email,
            self.username,
            self.filename,
            str(self.user_id),
            str(self.student_id),
        ]


@pytest.fixture
def world(client, people, sessions):
    """Three canary students (roster order 0, 1, 2) who each submitted, two of them the very same
    file (a duplicate flag); graded; anonymous marking on; a lecturer's counting pick whose reason
    names the student; a run log quoting the uploaded file's name; a GTA with a token."""
    canaries = [Canary(n) for n in range(3)]
    with sessions() as s:
        for c in canaries:
            user = User(id=c.user_id, username=c.username, name=c.name, email=c.email, role=Role.student)
            s.add(user)
            s.flush()
            give_password(s, user)
            s.add(Student(id=c.student_id, external_id=c.external_id, name=c.name, email=c.email, user_id=user.id))
            s.commit()
        gina = s.scalars(select(User).where(User.username == "gina")).one()
        gta_token, _ = create_token(session=s, user=gina)
        lee = s.scalars(select(User).where(User.username == "lee")).one()
        lecturer_token, _ = create_token(session=s, user=lee)
    same = answer_notebook("the same answer")
    subs = []
    for n, c in enumerate(canaries):
        csrf = sign_in(client, c.username)
        data = same if n < 2 else answer_notebook("an answer of my own")
        reply = upload(client, csrf, data, name=c.filename)
        assert reply.status_code == 303, reply.text
        subs.append(uuid.UUID(reply.headers["location"].rsplit("/", 1)[1]))
        run_id = grade(sessions, client.app.state.courseworks["cwa"].rubric, subs[-1])
        with sessions() as s:  # as a sandbox's log quotes the file it was given
            s.execute(
                update(GradingRun)
                .where(GradingRun.id == run_id)
                .values(log=f"executing /work/{c.filename} for {c.name}\n")
            )
            # As if LabTS and CATe had sent it: references and a snapshot's ignored files that name the student.
            s.execute(
                update(Submission)
                .where(Submission.id == subs[-1])
                .values(
                    cate_submission_id=f"cate-{c.external_id}",
                    labts_repository=f"https://gitlab.example.ac.uk/{c.username}/cw.git",
                    labts_commit="ab" * 20,
                    ignored_files=[f"notes/{c.name}.md", f"{c.external_id}/README.md"],
                )
            )
            s.commit()
    client.cookies.clear()
    lee_csrf = sign_in(client, "lee")
    assert (
        client.post(
            "/lecturer/courseworks/cwa/anonymous",
            data={"csrf_token": lee_csrf, "anonymous": "1"},
            follow_redirects=False,
        ).status_code
        == 303
    )
    lecturer = {"Authorization": f"Bearer {lecturer_token}"}
    picked = client.post(
        f"/api/v1/submissions/{subs[0]}/counting",
        headers=lecturer,
        json={"reason": f"{canaries[0].first} asked by email ({canaries[0].email})"},
    )
    assert picked.status_code == 200, picked.text
    with sessions() as s:  # a query from each, signed with their name and email, for gina to answer
        for c, sub in zip(canaries, subs, strict=True):
            s.add(
                MarkQuery(
                    coursework_id=s.get_one(Submission, sub).coursework_id,
                    student_id=c.student_id,
                    submission_id=sub,
                    item_id="curves",
                    message=f"Please look again. {c.name} ({c.email}, {c.username}, {c.external_id})",
                    raised_by_id=c.user_id,
                    raised_at=dt.datetime.now(dt.UTC),
                    assigned_to_id=gina.id,
                )
            )
        s.commit()
    listed = client.get("/api/v1/courseworks/cwa/queries", headers={"Authorization": f"Bearer {gta_token}"}).json()
    assert [LABEL.search(q["message"]) is not None for q in listed["queries"]] == [True] * 3, listed
    client.cookies.clear()
    return {"canaries": canaries, "subs": subs, "gta": {"Authorization": f"Bearer {gta_token}"}, "lecturer": lecturer}


def app_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, API and dashboard alike (static files aside).
    FastAPI 0.165 keeps included routers as branches; walk them, adding each include's prefix."""

    def walk(routes, prefix: str):
        for route in routes:
            if isinstance(route, Mount):
                continue
            if hasattr(route, "original_router"):  # an included router's branch
                yield from walk(route.original_router.routes, prefix + route.include_context.prefix)
                continue
            for method in sorted(getattr(route, "methods", None) or {"GET"}):
                if method != "HEAD":
                    yield method, prefix + route.path

    out = sorted(set(walk(app.routes, "")))
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert documented <= set(out), documented - set(out)  # the walk finds at least what OpenAPI lists
    return sorted(out, key=lambda mp: "logout" in mp[1])  # signing out last: the rest are called signed in


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: ids.get(m[1], "1"), path)


def leaks(reply, canaries: list[Canary]) -> list[str]:
    seen = reply.text + " " + " ".join(f"{k}: {v}" for k, v in reply.headers.items())
    return [w for c in canaries for w in c.strings() if w.casefold() in seen.casefold()]


def test_a_gta_learns_no_identity_from_any_route(client, world, sessions):
    canaries, subs = world["canaries"], world["subs"]
    with sessions() as s:
        run_ids = {
            sub: s.scalar(
                select(GradingRun.id).where(GradingRun.submission_id == sub).order_by(GradingRun.id.desc()).limit(1)
            )
            for sub in subs
        }
    answered: dict[tuple[str, str], int] = {}
    for sub in subs:
        csrf = sign_in(client, "gina")  # again each round: the last route of a round signs out
        headers = {**world["gta"], "X-CSRF-Token": csrf, "X-Requested-With": "fetch"}
        ids = {
            "cw": "cwa",
            "submission_id": str(sub),
            "run_id": str(run_ids[sub]),
            "item_id": "curves",
            "penalty_id": "nolabels",
            "name": "grid",
        }
        for method, path in app_routes(client.app):
            url = fill(path, ids)
            reply = client.request(
                method, url, headers=headers, follow_redirects=False, json=ANY_BODY if method != "GET" else None
            )
            assert reply.status_code < 500, (method, url, reply.status_code, reply.text[:300])
            assert not leaks(reply, canaries), (method, url, leaks(reply, canaries))
            answered.setdefault((method, path), reply.status_code)
    # The check means something: the routes that name students did answer the GTA.
    for route in [
        ("GET", "/api/v1/courseworks/{cw}/marks"),
        ("GET", "/api/v1/submissions/{submission_id}/marking"),
        ("GET", "/api/v1/courseworks/{cw}/duplicates"),
        ("GET", "/api/v1/submissions/{submission_id}"),
        ("GET", "/api/v1/submissions/{submission_id}/file"),
        ("GET", "/staff/courseworks/{cw}"),
        ("GET", "/staff/submissions/{submission_id}"),
        ("GET", "/staff/courseworks/{cw}/items/{item_id}"),
        ("PUT", "/api/v1/submissions/{submission_id}/marks/{item_id}"),
    ]:
        assert answered[route] == 200, route
    assert len(answered) > 40  # API and dashboard routes were both enumerated


def test_gta_lists_are_in_pseudonym_order_with_the_same_labels_everywhere(client, world):
    canaries, subs = world["canaries"], world["subs"]
    marks = client.get("/api/v1/courseworks/cwa/marks", headers=world["gta"]).json()["students"]
    ours = [r for r in marks if r["submission_id"] in {str(s) for s in subs}]
    labels = [r["name"] for r in marks]
    assert all(LABEL.fullmatch(n) for n in labels) and labels == sorted(labels) and len(set(labels)) == len(labels)
    assert all(r["external_id"] is None and r["anonymous"] and r["pseudonym"] == r["name"] for r in marks)
    label_of = {r["submission_id"]: r["name"] for r in ours}

    view = client.get(f"/api/v1/submissions/{subs[1]}/marking", headers=world["gta"]).json()
    assert view["student"] == {
        "external_id": None,
        "name": label_of[str(subs[1])],
        "pseudonym": label_of[str(subs[1])],
        "anonymous": True,
    }
    assert view["duplicates"][0]["other_student"]["name"] == label_of[str(subs[0])]
    assert view["duplicates"][0]["path"] == "cwa.ipynb"  # the rubric's name for it, not the upload's
    assert label_of[str(subs[1])] in view["run"]["log"]  # the log's name replaced, the rest kept
    assert "executing /work/submission.ipynb" in view["run"]["log"]
    assert (
        client.get(f"/api/v1/submissions/{subs[0]}/marking", headers=world["gta"])
        .json()["counting_choice"]["reason"]
        .startswith(label_of[str(subs[0])])
    )
    dupes = client.get("/api/v1/courseworks/cwa/duplicates", headers=world["gta"]).json()
    assert {h["student"]["name"] for g in dupes["groups"] for h in g["submissions"]} == {
        label_of[str(subs[0])],
        label_of[str(subs[1])],
    }
    download = client.get(f"/api/v1/submissions/{subs[2]}/file", headers=world["gta"])
    assert download.headers["content-disposition"] == 'attachment; filename="submission.ipynb"'

    sign_in(client, "gina")
    question = client.get("/staff/courseworks/cwa/items/curves").text
    shown = re.findall(r'<article class="card answer item" data-student="([^"]+)"', question)
    assert len(shown) == 3 and shown == sorted(shown) and set(shown) == set(label_of.values())
    overview = client.get("/staff/courseworks/cwa", params={"sort": "status"}).text  # ties keep their order
    rows = re.findall(r'<tr data-student="([^"]+)" data-status="([^"]+)"', overview)
    graded = [label for label, status in rows if status == "graded"]
    assert graded == sorted(graded) and set(graded) == set(label_of.values())

    # The lecturer sees who is who, in roster order, with the pseudonym alongside.
    lecturer = client.get("/api/v1/courseworks/cwa/marks", headers=world["lecturer"]).json()["students"]
    named = {r["submission_id"]: r for r in lecturer}
    for c, sub in zip(canaries, subs, strict=True):
        row = named[str(sub)]
        assert (row["name"], row["external_id"], row["pseudonym"], row["anonymous"]) == (
            c.name,
            c.external_id,
            label_of[str(sub)],
            False,
        )
    assert [r["external_id"] for r in lecturer if r["submission_id"]] == [c.external_id for c in canaries]
    lee_view = client.get(f"/api/v1/submissions/{subs[2]}/file", headers=world["lecturer"])
    assert canaries[2].filename in lee_view.headers["content-disposition"]


def test_pseudonyms_are_random_stored_and_survive_a_new_secret(client, world, sessions):
    subs = world["subs"]
    sign_in(client, "gina")
    shown = {
        sub: re.search(r"<h1>(Candidate \d{6}[A-Z]*) ", client.get(f"/staff/submissions/{sub}").text)[1] for sub in subs
    }
    with sessions() as s:
        owner = {sub: s.scalar(select(Submission.student_id).where(Submission.id == sub)) for sub in subs}
    # Main derived them from the student's sequential id under a default key: anyone could compute
    # them back. A random label matches that derivation only by a one-in-a-million chance.
    for sub, sid in owner.items():
        digest = hmac.new(b"dev-only-secret", f"cwa/{sid}".encode(), hashlib.sha256).digest()
        assert shown[sub] != f"Candidate {int.from_bytes(digest[:8], 'big') % 10**6:06d}"

    from grader.marking.scale_models import CandidatePseudonym  # (here: main has no such table)

    with sessions() as s:
        stored = dict(s.execute(select(CandidatePseudonym.student_id, CandidatePseudonym.label)).all())
    assert {sub: stored[sid] for sub, sid in owner.items()} == shown
    # Stable: a new app with another secret key shows the same labels, and draws nothing new.
    first = client.get("/api/v1/courseworks/cwa/marks", headers=world["gta"]).json()["students"]
    with sessions() as s:
        drawn = s.scalar(select(func.count()).select_from(CandidatePseudonym))
    assert drawn == len(first) == 6  # everyone on the roster now has one
    settings = client.app.state.settings.model_copy(update={"secret_key": secrets.token_urlsafe(32)})
    with TestClient(create_app(settings, engine=client.app.state.engine), base_url="http://127.0.0.1") as other:
        marks = other.get("/api/v1/courseworks/cwa/marks", headers=world["gta"]).json()["students"]
    assert marks == first and {r["submission_id"]: r["name"] for r in marks if r["submission_id"]} == {
        str(k): v for k, v in shown.items()
    }
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(CandidatePseudonym)) == drawn


def test_pseudonyms_are_unique_per_coursework_and_redrawn_on_a_clash(client, people, sessions, monkeypatch):
    from grader.marking import pseudonyms as pseudonym_module
    from grader.marking.pseudonyms import pseudonyms

    with sessions() as s:
        for n in range(6):
            s.add(Student(external_id=f"u{n}", name=f"U {n}"))
        s.commit()
        ids = list(s.scalars(select(Student.id)))
        cw_ids = list(s.scalars(select(Coursework.id).order_by(Coursework.id)))
    draws = iter([7, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24])
    monkeypatch.setattr(pseudonym_module.secrets, "randbelow", lambda _: next(draws))
    with sessions() as s:
        labels = pseudonyms(session=s, coursework_id=cw_ids[0], student_ids=ids)
    assert len(set(labels.values())) == len(ids)  # 7 drawn three times: stored once, redrawn twice
    assert sorted(labels.values())[0] == "Candidate 000007"
    monkeypatch.undo()
    with sessions() as s:
        other = pseudonyms(session=s, coursework_id=cw_ids[1], student_ids=ids)
        assert pseudonyms(session=s, coursework_id=cw_ids[0], student_ids=ids) == labels
    assert other != labels  # each coursework its own labels: a GTA cannot link a student's work


def test_concurrent_first_reads_agree_on_one_label_per_student(client, people, sessions):
    from grader.marking.pseudonyms import pseudonyms
    from grader.marking.scale_models import CandidatePseudonym

    with sessions() as s:
        for n in range(40):
            s.add(Student(external_id=f"c{n}", name=f"C {n}"))
        s.commit()
        ids = list(s.scalars(select(Student.id)))
        cw_id = s.scalar(select(Coursework.id).where(Coursework.code == "cwa"))
    results: list[dict[int, str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def read() -> None:
        try:
            with sessions() as s:
                start.wait()
                results.append(pseudonyms(session=s, coursework_id=cw_id, student_ids=ids))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 4
    assert all(r == results[0] for r in results) and len(set(results[0].values())) == len(ids)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(CandidatePseudonym)) == len(ids)
