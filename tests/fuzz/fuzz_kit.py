"""The fuzzer's world: two courseworks, five accounts, submissions, graded runs with artifacts and
webhooks, seeded through the running service (uploads) and the services a worker uses (grading);
the realistic values each role's fuzzer draws from; a tally of answers; the gradebook's audit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nbformat
import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from grader.blobs import BlobStore
from grader.courseworks import extensions
from grader.courseworks.models import Coursework
from grader.courseworks.service import release_coursework
from grader.grading.report import ArtifactFile, GradeReport
from grader.marking.queries import set_window
from grader.marking.query_models import MarkQuery
from grader.roster.models import Student
from grader.rubrics.loader import load_coursework
from grader.runs.models import GradingRun, RunArtifact, RunKind, RunStatus
from grader.runs.service import claim_run, complete_run, enqueue_run, fail_run
from grader.scoring.auto import auto_marks
from grader.scoring.outcomes import TestOutcome, TestResult
from grader.settings import Settings
from grader.submissions import regrade_preview as rp
from grader.submissions.models import Submission
from grader.submissions.run_queue import NoWakeUps
from grader.users.models import Role, TokenView, User
from grader.users.service import create_token, create_user
from grader.webhooks.sealing import SecretBox
from grader.webhooks.service import create_endpoint

# "service": a course system's token with the default student view (every read filtered as the
# student concerned sees it); "service_staff": one made with view=staff, the markers' full view.
ROLES = ("student", "gta", "lecturer", "service", "service_staff")
DEFAULT_EXAMPLES = 10  # per operation and role: `make test` stays within a few minutes on two cores


def fuzz_examples() -> int:
    """``GRADER_FUZZ_EXAMPLES`` (a longer hunt: e.g. 200), else ``DEFAULT_EXAMPLES``."""
    raw = os.environ.get("GRADER_FUZZ_EXAMPLES", str(DEFAULT_EXAMPLES))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"GRADER_FUZZ_EXAMPLES must be a positive whole number, not {raw!r}")
    return int(raw)


# Every visibility, a hand-marked item and a penalty: the routes that filter by them all answer.
RUBRIC = """\
coursework: {code}
title: "{title}"
version: "1"
weight: 0.5
total_points: 20
deadline: 2099-01-15T12:00:00
timezone: Europe/London
late_policy: {{grace_minutes: 0, per_day_fraction: 0.1, max_days: 7}}
submission: {{notebook: {code}.ipynb, max_mb: 1}}
mode: full
resources: {{queue: cpu}}
parts:
  - {{id: p1, title: "Part 1", points: 20}}
items:
  - {{id: shown, part: p1, title: "Shown item", points: 5, auto: {{tests: ["test_a.py::test_shown"]}}, visibility: visible}}
  - {{id: later, part: p1, title: "Later item", points: 5, auto: {{tests: ["test_a.py::test_later"]}}, visibility: after_release}}
  - {{id: secret, part: p1, title: "Secret item", points: 5, auto: {{tests: ["test_a.py::test_secret"]}}, visibility: hidden}}
  - {{id: essay, part: p1, title: "Essay", points: 5, manual: true, visibility: visible}}
penalties:
  - {{id: nolabels, title: "Plots without axis labels", points: 1}}
"""
COURSEWORKS = {"cwa": "CW A: still being marked", "cwb": "CW B: marks released"}
ITEMS = ("shown", "later", "secret", "essay")
PENALTIES = ("nolabels",)
HIDDEN_MESSAGE = "secret: hidden expected [1, 2]"  # a hidden item's message: never shown to a student
TESTS = {
    "test_a.py::test_shown": TestResult(TestOutcome.failed, 0.4, "shape (3, 3) expected, got (3, 4)"),
    "test_a.py::test_later": TestResult(TestOutcome.passed, 1.0, "later: fine"),
    "test_a.py::test_secret": TestResult(TestOutcome.failed, 0.6, HIDDEN_MESSAGE),
}
# Each artifact is drawn by one item's test and shown as that item's output: a student sees the
# visible item's grid at any time, never the hidden item's samples (artifact_view).
ARTIFACTS = {"grid": ("test_a.py::test_shown", "shown"), "samples": ("test_a.py::test_secret", "secret")}
HIDDEN_ARTIFACT = "samples"  # the hidden item's: never listed or served to a student


def write_rubrics(root: Path) -> Path:
    for code, title in COURSEWORKS.items():
        (root / code / "hidden").mkdir(parents=True)
        (root / code / "rubric.yaml").write_text(RUBRIC.format(code=code, title=title))
        (root / code / "hidden" / "test_a.py").write_text("def test_shown():\n    pass\n")
    return root


def notebook(text: str = "print('hello')") -> bytes:
    """A small valid notebook: the upload a student makes."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(text))
    return nbformat.writes(nb).encode()


def png(value: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((2, 3), value, dtype=np.uint8), mode="L").save(out, format="PNG")
    return out.getvalue()


@dataclass
class Seeded:
    """What the gradebook holds after ``seed``: the values a fuzzer needs to reach past 404."""

    tokens: dict[str, str] = field(default_factory=dict)  # role -> API token
    submissions: dict[str, str] = field(default_factory=dict)  # label -> id, e.g. "alice-cwa-graded"
    runs: dict[str, int] = field(default_factory=dict)  # submission label -> its graded full run
    webhooks: list[int] = field(default_factory=list)
    previews: list[int] = field(default_factory=list)  # a pending regrade preview of cwb, its run failed
    queries: dict[str, int] = field(default_factory=dict)  # answering role -> an open query for it

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def path_values(self) -> dict[str, list]:
        """Realistic values per path parameter name."""
        return {
            "cw": list(COURSEWORKS),
            "submission_id": list(self.submissions.values()),
            "run_id": list(self.runs.values()),
            "name": list(ARTIFACTS),
            "item_id": list(ITEMS),
            "penalty_id": list(PENALTIES),
            "webhook_id": list(self.webhooks),
            "external_id": ["s1", "s2", "s3"],
            "preview_id": list(self.previews),
            "query_id": list(self.queries.values()),
        }


def _accounts(session: Session, seeded: Seeded) -> None:
    for role, username, external_id in [
        ("student", "alice", "s1"),
        (None, "bob", "s2"),
        ("gta", "gina", None),
        ("lecturer", "lee", None),
        ("service", "cate", None),
    ]:
        user = create_user(
            session=session,
            username=username,
            name=username.title(),
            role=Role(role if role in ("gta", "lecturer", "service") else "student"),
        )
        if external_id:
            session.add(
                Student(
                    external_id=external_id, name=username.title(), email=f"{username}@example.ac.uk", user_id=user.id
                )
            )
            session.commit()
        if role:
            seeded.tokens[role], _ = create_token(session=session, user=user)
        if role == "service":
            seeded.tokens["service_staff"], _ = create_token(
                session=session, user=user, name="staff view", view=TokenView.staff
            )
    session.add(Student(external_id="s3", name="Carol"))  # on the roster, never submits
    # Withdrawn at the seed, never named elsewhere: the one student the lecturer's valid case erases.
    session.add(Student(external_id="s4", name="Dora", withdrawn_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC)))
    session.commit()


def _upload(base_url: str, token: str, code: str, data: bytes, on_behalf_of: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    if on_behalf_of:
        headers["X-On-Behalf-Of"] = on_behalf_of
    response = httpx.post(
        f"{base_url}/api/v1/courseworks/{code}/submissions",
        headers=headers,
        files={"file": (f"{code}.ipynb", data, "application/octet-stream")},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _grade(sessions: sessionmaker[Session], blobs: BlobStore, settings: Settings, submission_id: str) -> int:
    """Complete the submission's queued full run as a worker would, with two PNG artifacts."""
    sid = uuid.UUID(submission_id)
    with sessions() as session:
        code = session.scalars(
            select(Coursework.code)
            .join(Submission, Submission.coursework_id == Coursework.id)
            .where(Submission.id == sid)
        ).one()
        rubric = load_coursework(code, settings).rubric
        # Its queued full run; one the student's next upload superseded is brought back (the fair queue).
        run_id = enqueue_run(session=session, submission_id=sid).id
        artifacts, keys = [], {}
        for n, (name, (test, item_id)) in enumerate(ARTIFACTS.items()):
            data = png(40 * n)
            keys[name] = blobs.put(io.BytesIO(data)).sha256
            artifacts.append(
                ArtifactFile(
                    name=name,
                    title=f"{name} title",
                    media_type="image/png",
                    sha256=hashlib.sha256(data).hexdigest(),
                    size_bytes=len(data),
                    test=test,
                    item_id=item_id,
                )
            )
        lease = claim_run(session=session, run_id=run_id, worker_id="fuzz-seed")
        assert lease is not None
        report = GradeReport(
            coursework=code,
            status="graded",
            max_score=rubric.total_points,
            auto_max_score=rubric.auto_max_score,
            duration_s=1.0,
            marks=auto_marks(rubric, TESTS),
            artifacts=artifacts,
        )
        assert (
            complete_run(session=session, lease=lease, report=report, tests=TESTS, artifact_keys=keys)
            is RunStatus.graded
        )
        return run_id


def seed(base_url: str, sessions: sessionmaker[Session], blobs: BlobStore, settings: Settings) -> Seeded:
    """Accounts, uploads through the API (alice and bob share one file: a duplicate flag), graded
    runs with artifacts, cwb released, and four webhooks."""
    seeded = Seeded()
    with sessions() as session:
        _accounts(session, seeded)
    shared = notebook("x = 1")
    student, service = seeded.tokens["student"], seeded.tokens["service"]
    seeded.submissions["alice-cwa-graded"] = _upload(base_url, student, "cwa", shared)
    seeded.submissions["alice-cwa-queued"] = _upload(base_url, student, "cwa", notebook("x = 2"))
    seeded.submissions["bob-cwa-graded"] = _upload(base_url, service, "cwa", shared, on_behalf_of="s2")
    seeded.submissions["alice-cwb-graded"] = _upload(base_url, student, "cwb", notebook("y = 1"))
    for label, sid in seeded.submissions.items():
        if label.endswith("-graded"):
            seeded.runs[label] = _grade(sessions, blobs, settings, sid)
    box = SecretBox.from_settings(settings)
    with sessions() as session:
        cwb = session.scalars(select(Coursework).where(Coursework.code == "cwb")).one()
        release_coursework(session=session, coursework=cwb, released_by_id=None, note="seeded")
        # Extensions and mitigating circumstances for the fuzzer's DELETEs to find.
        for cw in session.scalars(select(Coursework)).all():
            for student in session.scalars(select(Student)).all():
                extensions.grant(
                    session=session,
                    student=student,
                    coursework=cw,
                    deadline=cw.deadline + dt.timedelta(days=1),
                    reason="seeded",
                    actor_id=None,
                )
                extensions.record_mitigation(
                    session=session, student=student, coursework=cw, reason="seeded", actor_id=None
                )
        # Queries: cwb takes them for 30 days; one open query of bob's for each answering role
        # (written directly: on cwa, which is not released, no student could raise it).
        set_window(session=session, coursework=cwb, days=30, by_user_id=None)
        seeded.queries.update(_open_queries(session, seeded.submissions["bob-cwa-graded"]))
        for n in range(4):  # the last is read (deliveries), the rest are the fuzzer's to delete
            endpoint, _ = create_endpoint(
                session=session, box=box, url=f"https://course.example.org/hook/{n}", description=f"seeded {n}"
            )
            seeded.webhooks.append(endpoint.id)
    seeded.previews.append(_failed_preview(sessions, settings, "cwb"))
    return seeded


def _open_queries(session: Session, submission_id: str) -> dict[str, int]:
    sub = session.get_one(Submission, uuid.UUID(submission_id))
    gina = session.scalars(select(User.id).where(User.username == "gina")).one()
    out = {}
    for role, item, assigned in (("gta", "shown", gina), ("lecturer", "later", None)):
        query = MarkQuery(
            coursework_id=sub.coursework_id,
            student_id=sub.student_id,
            submission_id=sub.id,
            item_id=item,
            message="please look again",
            raised_by_id=gina,
            raised_at=dt.datetime.now(dt.UTC),
            assigned_to_id=assigned,
        )
        session.add(query)
        session.commit()
        out[role] = query.id
    return out


def _failed_preview(sessions: sessionmaker[Session], settings: Settings, code: str) -> int:
    """A pending regrade preview whose every staged run failed for good: it applies with
    ``changed`` 0 whatever the fuzzer did to marks first (a failed run changes nobody's mark)."""
    files = load_coursework(code, settings)
    with sessions() as session:
        cw = session.scalars(select(Coursework).where(Coursework.code == code)).one()
        lee = session.scalars(select(User.id).where(User.username == "lee")).one()
        preview = rp.start_preview(
            session=session,
            coursework=cw,
            rubric=files.rubric,
            digests=rp.suite_digests(files),
            lecturer_id=lee,
            queue="cpu",
            run_queue=NoWakeUps(),
        )
        for run_id in session.scalars(select(GradingRun.id).where(GradingRun.preview_id == preview.id)).all():
            lease = claim_run(session=session, run_id=run_id, worker_id="fuzz-seed")
            assert lease is not None
            assert fail_run(session=session, lease=lease, error="seeded", max_attempts=1) is RunStatus.error
        return preview.id


@dataclass
class Tally:
    """Status codes each operation answered, and every receipt (201) the fuzzer was given."""

    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    receipts: list[str] = field(default_factory=list)

    def record(self, label: str, status: int, body: object) -> None:
        self.statuses[label][status] += 1
        if status == 201 and label.endswith("/submissions") and isinstance(body, dict) and "id" in body:
            self.receipts.append(body["id"])

    def successes(self, label: str) -> int:
        return sum(n for status, n in self.statuses[label].items() if 200 <= status < 300)


def gradebook_problems(sessions: sessionmaker[Session], blobs: BlobStore, receipts: list[str]) -> list[str]:
    """What is half-stored: a receipt without its row, a row without its blob (or with another
    blob's bytes), a submission with no grading run queued, an artifact without its PNG."""
    problems = []
    with sessions() as session:
        subs = {str(s.id): s for s in session.scalars(select(Submission))}
        problems += [f"receipt {r} has no submission row" for r in receipts if r not in subs]
        for sid, sub in subs.items():
            if not blobs.exists(sub.blob_key):
                problems.append(f"submission {sid} has no blob {sub.blob_key}")
                continue
            with blobs.open(sub.blob_key) as fh:
                data = fh.read()
            if hashlib.sha256(data).hexdigest() != sub.sha256 or len(data) != sub.size_bytes:
                problems.append(f"submission {sid}: its blob is not the file received")
            full = session.scalars(
                select(GradingRun.id).where(GradingRun.submission_id == sub.id, GradingRun.kind == RunKind.full)
            ).first()
            if full is None:
                problems.append(f"submission {sid} has no full grading run")
        for artifact in session.scalars(select(RunArtifact)):
            if not blobs.exists(artifact.blob_key):
                problems.append(f"artifact {artifact.name} of run {artifact.run_id} has no blob")
    return problems
