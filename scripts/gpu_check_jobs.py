"""scripts/gpu_check.sh's "one job per GPU" check, on a real device: `grader up` (which starts a worker
of its own for the gpu queue, pinned to the GPU) takes two GPU smoke submissions sent at once by two
students; the second must wait for the first (their runs do not overlap), both must get full marks,
and each run's log must name the GPU.

    .venv/bin/python scripts/gpu_check_jobs.py STATE_DIR [DEVICE]

Prints PASS/FAIL lines; exit 1 if any failed. Needs the project's venv and runtime (and a GPU).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "tests" / "gpu" / "courseworks" / "gpu_smoke" / "solution.ipynb"
ACCOUNT = re.compile(r"^  (student\d)\s+(grd_\S+)\s")


def say(ok: bool, name: str, detail: str = "") -> bool:
    print(f"{'PASS' if ok else 'FAIL':5} {name}" + (f": {detail}" if detail else ""), flush=True)
    return ok


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(state: Path, device: str) -> int:
    port = free_port()
    env = {
        **os.environ,
        "GRADER_STATE_DIR": str(state),
        "GRADER_DATABASE_URL": f"sqlite:///{state}/grader.db",
        "GRADER_BLOB_DIR": str(state / "blobs"),
        "GRADER_BROKER_DIR": str(state / "broker"),
        "GRADER_LOG_DIR": str(state / "log"),
        "GRADER_RUBRICS_DIR": str(NOTEBOOK.parent.parent),
        "GRADER_GPU_DEVICE": device,
    }
    grader = str(Path(sys.executable).parent / "grader")
    proc = subprocess.Popen(
        [grader, "up", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    ok = True
    try:
        deadline = time.monotonic() + 300
        while not any("Ctrl-C stops the service" in line for line in lines):
            if proc.poll() is not None or time.monotonic() > deadline:
                return int(not say(False, "grader up starts", "".join(lines)[-2000:]))
            time.sleep(0.5)
        gpu_line = next((line.strip() for line in lines if line.strip().startswith("GPU:")), "")
        ok &= say("a worker of its own grades the gpu queue" in gpu_line, "grader up's banner names the GPU", gpu_line)
        tokens = {m[1]: m[2] for line in lines if (m := ACCOUNT.match(line))}
        ids = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as api:
            for student in ("student1", "student2"):
                r = api.post(
                    "/api/v1/courseworks/gpu_smoke/submissions",
                    headers={"Authorization": f"Bearer {tokens[student]}"},
                    files={"file": ("gpu_smoke.ipynb", NOTEBOOK.read_bytes(), "application/x-ipynb+json")},
                )
                if r.status_code != 201:
                    return int(not say(False, "two GPU jobs submitted", f"{r.status_code} {r.text[:300]}"))
                ids.append(r.json()["id"])
        db = state / "grader.db"
        query = (
            "select r.status, r.started_at, r.finished_at, r.score, r.worker_id, r.log from grading_runs r "
            "where r.kind = 'full' and r.submission_id in (?, ?) order by r.started_at"
        )
        deadline = time.monotonic() + 900
        while True:
            with sqlite3.connect(db) as con:
                rows = con.execute(query, [i.replace("-", "") for i in ids]).fetchall()
                if len(rows) < 2:
                    rows = con.execute(query, ids).fetchall()
            if len(rows) == 2 and all(r[0] in ("graded", "error") for r in rows):
                break
            if time.monotonic() > deadline:
                return int(not say(False, "two GPU jobs graded", f"not within 900s: {rows}"))
            time.sleep(2)
        (s1, start1, end1, score1, w1, log1), (s2, start2, end2, score2, w2, log2) = rows
        ok &= say(s1 == s2 == "graded" and score1 == score2 == 3, "two GPU jobs graded, full marks", f"{rows}")
        ok &= say(
            start2 >= end1, "one job per GPU: the second waited for the first", f"{start1}..{end1}, {start2}..{end2}"
        )
        same = w1.rsplit(":", 1)[0] == w2.rsplit(":", 1)[0]  # host:pid, then a token of the claim
        ok &= say(same, "both graded by the one gpu worker", f"{w1}, {w2}")
        ok &= say(
            "device: GPU" in log1 and "device: GPU" in log2, "each run's log names the GPU", log1.splitlines()[-1]
        )
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "0"))
