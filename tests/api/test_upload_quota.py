"""The hourly upload limit: every attempt counts (refused ones too), per coursework, and the
check is atomic per student and coursework: parallel uploads against a real running server on
Postgres never get past it together."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from api_kit import notebook, upload
from live_kit import serving
from sqlalchemy import func, select

from grader.courseworks.models import Coursework
from grader.server import create_app
from grader.settings import Settings
from grader.submissions.models import Submission
from grader.submissions.quota import RATE_WINDOW, RateLimited, count_upload_attempt
from grader.submissions.quota_models import UploadAttempt

PER_HOUR = 5


@pytest.fixture(scope="module")
def two_courseworks(tmp_path_factory: pytest.TempPathFactory, rubrics_dir: Path) -> Path:
    """cwa, the assessed coursework (the API tests' rubric), and practice, one students try things on."""
    root = tmp_path_factory.mktemp("quota-rubrics")
    assessed = (rubrics_dir / "cwa" / "rubric.yaml").read_text()
    practice = assessed.replace("coursework: cwa", "coursework: practice").replace("cwa.ipynb", "practice.ipynb")
    for code, body in (("cwa", assessed), ("practice", practice)):
        (root / code / "hidden").mkdir(parents=True)
        (root / code / "rubric.yaml").write_text(body)
        (root / code / "hidden" / "test_a.py").write_text("def test_shown():\n    pass\n")
    return root


@pytest.fixture
def settings(tmp_path: Path, two_courseworks: Path, api_pg_url: str) -> Settings:
    return Settings(
        rubrics_dir=two_courseworks,
        database_url=api_pg_url,
        blob_dir=tmp_path / "blobs",
        broker_url="filesystem://",
        broker_dir=tmp_path / "broker",
        upload_max_mb=1,
        submissions_per_hour=PER_HOUR,
    )


def stored(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count(Submission.id)))


def test_refused_uploads_count_against_the_limit(client, people, sessions):
    for n in range(PER_HOUR):
        r = upload(client, people.headers["student"], f"not a notebook {n}".encode())
        assert r.status_code == 422, r.text
    r = upload(client, people.headers["student"], notebook())
    assert r.status_code == 429, r.text
    assert "refused ones included" in r.json()["detail"]
    assert 0 < int(r.headers["Retry-After"]) <= 3600
    assert stored(sessions) == 0


def test_oversized_uploads_count_too(client, people):
    for _ in range(PER_HOUR):
        assert upload(client, people.headers["student"], b"x" * (2**20 + 10)).status_code == 413
    assert upload(client, people.headers["student"], notebook()).status_code == 429


def test_the_limit_is_per_coursework(client, people, sessions):
    for n in range(PER_HOUR):
        assert (
            upload(
                client, people.headers["student"], notebook(f"n = {n}"), cw="practice", name="practice.ipynb"
            ).status_code
            == 201
        )
    assert (
        upload(client, people.headers["student"], notebook("more"), cw="practice", name="practice.ipynb").status_code
        == 429
    )
    # Practice used up its own quota, not the assessed coursework's.
    assert upload(client, people.headers["student"], notebook("the real one")).status_code == 201


def test_a_retry_of_a_stored_submission_is_not_an_attempt(client, people):
    kept = notebook("kept")
    assert upload(client, people.headers["student"], kept, key="k1").status_code == 201
    for n in range(PER_HOUR - 1):
        assert upload(client, people.headers["student"], notebook(f"n = {n}")).status_code == 201
    assert upload(client, people.headers["student"], kept, key="k1").status_code == 200
    assert upload(client, people.headers["student"], notebook("new")).status_code == 429


@pytest.fixture
def live(settings, api_engine, sessions, woken):
    with serving(create_app(settings, engine=api_engine)) as url:
        yield url


def _parallel_uploads(url: str, headers: dict[str, str], bodies: list[bytes]) -> list[int]:
    def send(body: bytes) -> int:
        return httpx.post(
            f"{url}/api/v1/courseworks/cwa/submissions",
            headers=headers,
            timeout=120,
            files={"file": ("cwa.ipynb", body, "application/octet-stream")},
        ).status_code

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(send, bodies))


def test_parallel_uploads_never_pass_the_limit_together(live, people, sessions):
    codes = _parallel_uploads(live, people.headers["student"], [notebook(f"n = {n}") for n in range(12)])
    assert sorted(codes) == [201] * PER_HOUR + [429] * (12 - PER_HOUR), codes
    assert stored(sessions) == PER_HOUR


def test_parallel_refused_uploads_never_pass_the_limit_together(live, people, sessions):
    codes = _parallel_uploads(live, people.headers["student"], [f"junk {n}".encode() for n in range(12)])
    assert sorted(codes) == [422] * PER_HOUR + [429] * (12 - PER_HOUR), codes


def test_attempts_leave_the_window_after_an_hour(sessions, people, client):
    with sessions() as session:
        cw = session.scalars(select(Coursework).where(Coursework.code == "cwa")).one()
        student = people.student_ids["student"]
        start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
        for n in range(PER_HOUR):
            count_upload_attempt(
                session=session,
                student_id=student,
                coursework_id=cw.id,
                per_hour=PER_HOUR,
                now=start + dt.timedelta(minutes=n),
            )
        with pytest.raises(RateLimited) as refused:
            count_upload_attempt(
                session=session,
                student_id=student,
                coursework_id=cw.id,
                per_hour=PER_HOUR,
                now=start + dt.timedelta(minutes=30),
            )
        assert refused.value.retry_after_s == 30 * 60  # the first attempt leaves the window at 10:00
        count_upload_attempt(
            session=session,
            student_id=student,
            coursework_id=cw.id,
            per_hour=PER_HOUR,
            now=start + RATE_WINDOW + dt.timedelta(seconds=1),
        )
        # The attempt that left the window was deleted; four remain plus the new one.
        assert session.scalar(select(func.count(UploadAttempt.id))) == PER_HOUR
