"""The fair queue over the API: superseded submissions, the student's own place and ETA, a
lecturer's "grade this first", and health and metrics naming a queue with work and no worker."""

from __future__ import annotations

from api_kit import notebook, upload

from grader.runs.registry import announce


def worker_on(sessions, *queues: str) -> None:
    with sessions() as s:
        announce(session=s, name="w1@h1", host="h1", pid=1, queues=queues, concurrency=1)


def read(client, people, sid: str, who: str = "student") -> dict:
    r = client.get(f"/api/v1/submissions/{sid}", headers=people.headers[who])
    assert r.status_code == 200, r.text
    return r.json()


def test_a_student_sees_their_own_place_and_superseded_runs(client, people, sessions):
    first = upload(client, people.headers["student"], notebook("a = 1")).json()["id"]
    second = upload(client, people.headers["student"], notebook("a = 2")).json()["id"]
    assert read(client, people, first)["status"] == "superseded" and read(client, people, first)["queue"] is None
    # No worker serves the coursework's queue: said plainly, not "queued".
    assert read(client, people, second)["queue"] == {
        "position": 1,
        "eta_s": None,
        "message": "waiting for a CPU worker",
    }
    worker_on(sessions, "cpu", "precheck")
    bobs = upload(client, people.headers["other"], notebook("b = 1")).json()["id"]
    assert read(client, people, second)["queue"]["message"] == "queued: 1st in line"
    theirs = read(client, people, bobs, who="other")["queue"]
    assert theirs["position"] == 2 and theirs["message"] == "queued: 2nd in line"
    # Nothing of another student's: their submission is not found for this one.
    assert client.get(f"/api/v1/submissions/{bobs}", headers=people.headers["student"]).status_code == 404


def test_a_lecturer_can_have_a_superseded_submission_graded_first(client, people):
    first = upload(client, people.headers["student"], notebook("a = 1")).json()["id"]
    upload(client, people.headers["student"], notebook("a = 2"))
    upload(client, people.headers["other"], notebook("b = 1"))
    for who in ("gta", "student", "service"):
        r = client.post(f"/api/v1/submissions/{first}/priority", headers=people.headers[who])
        assert r.status_code == 403, (who, r.text)
    r = client.post(f"/api/v1/submissions/{first}/priority", headers=people.headers["lecturer"])
    assert r.status_code == 202 and r.json()["run"]["status"] == "queued"
    assert read(client, people, first)["queue"]["position"] == 1  # raised above everyone's


def test_health_and_metrics_name_a_queue_with_work_and_no_worker(client, people, sessions):
    upload(client, people.headers["student"], notebook())
    health = client.get("/api/v1/health").json()
    assert health["status"] == "ok" and health["queues_without_workers"] == ["cpu", "precheck"]
    assert health["workers"] == "no live worker for queued work on: cpu, precheck"
    text = client.get("/metrics", headers=people.headers["gta"]).text
    assert 'grader_queue_length{queue="cpu"} 1.0' in text
    assert 'grader_queue_without_worker{queue="cpu"} 1.0' in text
    assert 'grader_queue_without_worker{queue="gpu"} 0.0' in text  # no work: nothing missing
    worker_on(sessions, "cpu", "precheck")
    assert client.get("/api/v1/health").json()["queues_without_workers"] == []
    text = client.get("/metrics", headers=people.headers["gta"]).text
    assert 'grader_queue_live_workers{queue="cpu"} 1.0' in text and 'grader_queue_slots{queue="cpu"} 1.0' in text
    assert 'grader_queue_without_worker{queue="cpu"} 0.0' in text
