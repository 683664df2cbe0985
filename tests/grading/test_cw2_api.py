"""Every CW2 sample zip submitted through the API of a running service (`grader up`: the real API, a
real worker, the sandbox) gets the marks `grader grade` gives it, and the markers' pictures come
with the run."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cw2_submissions import SUBMISSIONS, pickle_marker
from up_kit import Service, service_in, wait_until

GRADE_TIMEOUT_S = 400

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with service_in(tmp_path, "grader-cw2-api-") as svc:
        yield svc


def test_every_cw2_sample_through_the_api_gets_its_marks(service: Service, tmp_path: Path):
    """All samples go in at once, as at a deadline; each must get what `grader grade` gives it (the
    ones the student's later uploads superseded once the lecturer asks for them)."""
    running = service.start()
    assert "cw2" in running.output()
    # No GPU here: CW2 (gpu queue, fallback cpu) is graded by the CPU worker at once, and the banner says so.
    assert "GPU:         none here: cw2 asks for one and is graded on the CPU worker instead" in running.output()
    accounts = running.accounts()
    student, lecturer = accounts["student1"], accounts["lecturer"]
    marker = pickle_marker()
    marker.unlink(missing_ok=True)
    with httpx.Client(base_url=service.url, timeout=60) as api:
        ids = {}
        for name, sample in sorted(SUBMISSIONS.items()):
            path = sample.build(tmp_path / name)
            with path.open("rb") as fh:
                r = api.post(
                    "/api/v1/courseworks/cw2/submissions",
                    headers=student.headers,
                    files={"file": ("cw2.zip", fh, "application/zip")},
                )
            assert r.status_code == 201, (name, r.text)
            ids[name] = r.json()["id"]

        def status(sub_id):
            return api.get(f"/api/v1/submissions/{sub_id}", headers=student.headers).json()

        # One student uploading every sample in a row: each upload supersedes the runs of the earlier
        # ones still waiting (the fair queue). The lecturer asks for those to be graded after all.
        for name, sub_id in ids.items():
            if status(sub_id)["status"] == "superseded":
                r = api.post(f"/api/v1/submissions/{sub_id}/priority", headers=lecturer.headers)
                assert r.status_code < 300, (name, r.text)

        def all_done():
            states = {name: status(sub_id) for name, sub_id in ids.items()}
            return states if all(s["status"] in ("graded", "error") for s in states.values()) else None

        states = wait_until(all_done, GRADE_TIMEOUT_S * 3, "every CW2 sample to be graded", running.output)
        assert not marker.exists(), "a model file ran code on the grading host"
        for name, done in states.items():
            expected = SUBMISSIONS[name].expected
            assert done["status"] == "graded", (name, done)
            # The student reads no score before release (hidden items are part of it); the lecturer does.
            assert next(run for run in done["runs"] if run["kind"] == "full")["score"] is None, (name, done)
            staff = api.get(f"/api/v1/submissions/{ids[name]}", headers=lecturer.headers).json()
            full = next(run for run in staff["runs"] if run["kind"] == "full")
            assert full["score"] == pytest.approx(expected.score, abs=0.01), (name, full)
            assert full["queue"] == "cpu" and full["note"].startswith("no GPU worker was available"), (name, full)
            sheet = api.get(f"/api/v1/submissions/{ids[name]}/marking", headers=lecturer.headers)
            assert sheet.status_code == 200, sheet.text
            sheet = sheet.json()
            # The marker sees which device graded it, after the note on the fall back.
            assert "\ndevice: cpu\n" in sheet["run"]["log"] + "\n", (name, sheet["run"]["log"])
            items = {i["id"]: i for i in sheet["items"]}
            for item_id, score in expected.item_scores.items():
                assert items[item_id]["auto_score"] == pytest.approx(score, abs=0.01), (name, items[item_id])
            for item_id, want in expected.items.items():
                assert items[item_id]["status"] in want.split("|"), (name, items[item_id])
            applied = sorted(p["id"] for p in sheet["penalties"] if p["auto_applied"])
            assert applied == sorted(expected.penalties), (name, applied)
            assert items["gan_images"]["kind"] == "suggest"
            if expected.suggested is not None:
                assert items["gan_images"]["message"].startswith(f"suggested {expected.suggested:g}/10"), (
                    name,
                    items["gan_images"],
                )

        # The markers' pictures come with the run; a VAE file that does not load has no reconstructions.
        pictures = {
            name: {
                a["name"]
                for a in api.get(f"/api/v1/submissions/{ids[name]}/marking", headers=lecturer.headers).json()[
                    "artifacts"
                ]
            }
            for name in ("correct", "vae_file_does_not_load")
        }
        assert pictures["correct"] == {"gan-fixed-noise", "gan-judge-noise", "vae-reconstructions"}
        assert pictures["vae_file_does_not_load"] == {"gan-fixed-noise", "gan-judge-noise"}

        # A zip missing a model is refused before anything is stored, with the intake's message.
        path = SUBMISSIONS["correct"].build(tmp_path / "again")
        broken = tmp_path / "broken.zip"
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
            for name in src.namelist():
                if name != "GAN_D_model.pth":
                    dst.writestr(name, src.read(name))
        with broken.open("rb") as fh:
            r = api.post(
                "/api/v1/courseworks/cw2/submissions",
                headers=student.headers,
                files={"file": ("cw2.zip", fh, "application/zip")},
            )
        assert 400 <= r.status_code < 500, r.text
        assert "missing GAN_D_model.pth" in r.text, r.text
    assert service.stop(running) == 0
