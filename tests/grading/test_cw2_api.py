"""A CW2 zip submitted through the API of a running service (`grader up`: the real API, a real worker,
the sandbox) gets the same marks as `grader grade`, and the markers' pictures come with the run."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "service"))
from up_kit import Service, free_port, wait_until  # noqa: E402

from cw2_submissions import SUBMISSIONS  # noqa: E402

GRADE_TIMEOUT_S = 400
SAMPLE = "vae_file_does_not_load"  # auto items lost and a penalty: more to compare than a full mark

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    jobs = Path(tempfile.mkdtemp(prefix="grader-cw2-api-", dir="/var/tmp"))
    os.chmod(jobs, 0o711)
    svc = Service(var=tmp_path / "var", jobs=jobs, port=free_port(), marker=uuid.uuid4().hex)
    try:
        yield svc
    finally:
        svc.cleanup()
        shutil.rmtree(jobs, ignore_errors=True)


def test_a_cw2_zip_through_the_api_gets_its_marks(service: Service, tmp_path: Path):
    sample = SUBMISSIONS[SAMPLE]
    path = sample.build(tmp_path / "in")
    running = service.start()
    assert "cw2" in running.output()
    accounts = running.accounts()
    student, lecturer = accounts["student1"], accounts["lecturer"]
    with httpx.Client(base_url=service.url, timeout=60) as api:
        with path.open("rb") as fh:
            r = api.post("/api/v1/courseworks/cw2/submissions", headers=student.headers,
                         files={"file": ("cw2.zip", fh, "application/zip")})
        assert r.status_code == 201, r.text
        sub_id = r.json()["id"]

        def graded():
            s = api.get(f"/api/v1/submissions/{sub_id}", headers=student.headers).json()
            return s if s["status"] in ("graded", "error") else None

        done = wait_until(graded, GRADE_TIMEOUT_S, "the CW2 sample to be graded", running.output)
        assert done["status"] == "graded", done
        full = next(run for run in done["runs"] if run["kind"] == "full")
        assert full["score"] == pytest.approx(sample.expected.score, abs=0.01), done

        sheet = api.get(f"/api/v1/submissions/{sub_id}/marking", headers=lecturer.headers)
        assert sheet.status_code == 200, sheet.text
        sheet = sheet.json()
        items = {i["id"]: i for i in sheet["items"]}
        for item_id, score in sample.expected.item_scores.items():
            assert items[item_id]["auto_score"] == pytest.approx(score, abs=0.01), items[item_id]
        for item_id, status in sample.expected.items.items():
            assert items[item_id]["status"] in status.split("|"), items[item_id]
        applied = sorted(p["id"] for p in sheet["penalties"] if p["auto_applied"])
        assert applied == sorted(sample.expected.penalties)
        assert items["gan_images"]["kind"] == "suggest" and items["gan_images"]["message"].startswith("suggested 10/10")
        # The VAE file does not load, so its reconstructions are the one picture missing.
        assert {a["name"] for a in sheet["artifacts"]} == {"gan-fixed-noise", "gan-judge-noise"}

        # A zip missing a model is refused before anything is stored, with the intake's message.
        broken = tmp_path / "broken.zip"
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
            for name in src.namelist():
                if name != "GAN_D_model.pth":
                    dst.writestr(name, src.read(name))
        with broken.open("rb") as fh:
            r = api.post("/api/v1/courseworks/cw2/submissions", headers=student.headers,
                         files={"file": ("cw2.zip", fh, "application/zip")})
        assert 400 <= r.status_code < 500, r.text
        assert "missing GAN_D_model.pth" in r.text, r.text
    assert service.stop(running) == 0
