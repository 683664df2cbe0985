"""A deadline rush through the API and real workers: first in, first out against the fair queue.

    .venv/bin/python bench/rush.py [--students 40] [--max-uploads 5] [--window-s 120] [--workers 2]

Each of ``--students`` students uploads 1 to ``--max-uploads`` times (drawn with ``--seed``) over a
compressed last hour of ``--window-s`` seconds, uploads crowding towards its end as they do before a
deadline; the coursework is tiny (one function, one hidden test). The same schedule runs twice, each
time on a fresh gradebook, Redis db, API and ``--workers`` real ``grader worker`` processes:

1. ``fifo``: the ``fair_queue`` setting off: every run graded, first in, first out;
2. ``fair``: round-robin by student, a new upload superseding the same student's older waiting run.

Reported for each: every student's time from their last upload to its mark (received to the run's
finish, both on the database's clock): p50, p99, max; runs graded and superseded; wall time. For the
fair queue also how the ETA the API showed right after each last upload (``queue.eta_s``) compared
with the real wait: the median of shown/real and the share within 25 %. A table, a JSON line, and
bench/results/rush.json.

The issue's size is ``--students 300``; the default is smaller so that it runs in a few minutes on
2 cores (every upload costs a pre-check and up to one full run, and FIFO grades every one).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _service import (
    DEFAULT_REDIS_DB,
    REPO,
    add_students,
    bench_database,
    interrupt_on_sigterm,
    log,
    redis_database,
    service_env,
    start_api,
    start_workers,
    sync_rubrics,
)

COURSEWORK = "rush"
DONE = ("graded", "error")


def tiny_coursework(root: Path) -> Path:
    """``rush``: one function to write, one hidden test calling it once; no deadline (all on time)."""
    cw = root / COURSEWORK
    (cw / "hidden").mkdir(parents=True)
    (cw / "rubric.yaml").write_text(
        textwrap.dedent(f"""\
        coursework: {COURSEWORK}
        title: Rush
        weight: 0.4
        total_points: 1
        mode: definitions
        submission: {{notebook: {COURSEWORK}.ipynb}}
        parts: [{{id: "1", title: One, points: 1}}]
        items:
          - {{id: add, part: "1", title: Add one, points: 1, auto: {{tests: ["test_rush.py::test_add"]}}}}
        """)
    )
    (cw / "hidden" / "test_rush.py").write_text(
        textwrap.dedent("""\
        def test_add(student):
            assert student.run("y = add_one(x)", inputs={"x": 1}, outputs=["y"])["y"] == 2
        """)
    )
    for name in ("solution", "skeleton"):
        (cw / f"{name}.ipynb").write_bytes(notebook(0))
    return root


def notebook(n: int) -> bytes:
    """A correct answer, tagged with ``n`` so that every upload is a distinct file."""
    import nbformat

    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(f"def add_one(x):\n    return x + 1  # version {n}")]
    )
    return nbformat.writes(nb).encode()


@dataclass(frozen=True)
class Upload:
    student: int
    at_s: float  # seconds into the window
    last: bool  # the student's last upload


def schedule(students: int, max_uploads: int, window_s: float, seed: int) -> list[Upload]:
    """Each student's uploads over the window, most near its end (the square root of a uniform draw)."""
    rng = random.Random(seed)
    plan = []
    for s in range(students):
        times = sorted(window_s * rng.random() ** 0.5 for _ in range(rng.randint(1, max_uploads)))
        plan += [Upload(s, t, i == len(times) - 1) for i, t in enumerate(times)]
    return sorted(plan, key=lambda u: u.at_s)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run_mode(mode: str, plan: list[Upload], args: argparse.Namespace, rubrics: Path) -> dict:
    import httpx
    from sqlalchemy import func, select

    from grader.db.engine import make_engine, session_factory
    from grader.runs.models import GradingRun, RunKind, RunStatus
    from grader.submissions.models import Submission

    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix=f"grader-bench-rush-{mode}-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        url = stack.enter_context(bench_database(f"grader_bench_rush_{mode}"))
        broker = stack.enter_context(redis_database(args.redis_db))
        sync_rubrics(url, rubrics)
        tokens = add_students(url, args.students, "rush")
        jobs = Path(tempfile.mkdtemp(prefix="grader-bench-jobs-", dir="/var/tmp"))
        stack.callback(shutil.rmtree, jobs, ignore_errors=True)
        env = service_env(
            database_url=url,
            broker_url=broker,
            blob_dir=tmp / "blobs",
            rubrics_dir=rubrics,
            submissions_per_hour=1000,
            jobs_dir=jobs,
            fair_queue="true" if mode == "fair" else "false",
        )
        base = start_api(stack, env, tmp, workers=args.api_workers)
        start_workers(stack, env, tmp, args.workers)
        log(f"{mode}: API at {base}, {args.workers} workers; {len(plan)} uploads over {args.window_s:.0f}s...")

        sent: dict[int, list[uuid.UUID]] = {}  # student -> the ids of their receipts
        shown: dict[uuid.UUID, dict] = {}  # each planned last upload: the ETA shown, when it was read
        lock = threading.Lock()
        client = httpx.Client(timeout=300)
        stack.callback(client.close)
        start = time.monotonic()

        def send(n: int, up: Upload) -> None:
            time.sleep(max(0.0, start + up.at_s - time.monotonic()))
            headers = {"Authorization": f"Bearer {tokens[up.student]}"}
            r = client.post(
                f"{base}/api/v1/courseworks/{COURSEWORK}/submissions",
                headers=headers,
                files={"file": (f"{COURSEWORK}.ipynb", notebook(n), "application/x-ipynb+json")},
            )
            if r.status_code != 201:
                raise RuntimeError(f"upload refused: {r.status_code} {r.text[:300]}")
            sid = r.json()["id"]
            with lock:
                sent.setdefault(up.student, []).append(uuid.UUID(sid))
            if not up.last:
                return
            status = client.get(f"{base}/api/v1/submissions/{sid}", headers=headers).json()
            queue = status.get("queue") or {}
            with lock:
                shown[uuid.UUID(sid)] = {
                    "eta_s": queue.get("eta_s"),
                    "position": queue.get("position"),
                    "read_at": time.time(),
                }

        with ThreadPoolExecutor(max_workers=32) as pool:
            for future in [pool.submit(send, n, up) for n, up in enumerate(plan)]:
                future.result()
        uploaded_s = time.monotonic() - start
        log(f"{mode}: all uploaded in {uploaded_s:.0f}s; waiting for every last upload's mark...")

        engine = make_engine(url)
        stack.callback(engine.dispose)
        sessions = session_factory(engine)
        # Each student's last upload as the service received it: with uploads in flight at once, the
        # planned last can arrive before an earlier one (and be superseded by it).
        with sessions() as session:
            received = dict(
                session.execute(
                    select(Submission.id, Submission.received_at).where(
                        Submission.id.in_([i for ids in sent.values() for i in ids])
                    )
                ).all()
            )
        ids = [max(mine, key=lambda i: (received[i], str(i))) for mine in sent.values()]
        while True:
            with sessions() as session:
                rows = session.execute(
                    select(GradingRun.submission_id, GradingRun.status, GradingRun.finished_at)
                    .where(GradingRun.submission_id.in_(ids), GradingRun.kind == RunKind.full)
                    .order_by(GradingRun.id)
                ).all()
            finished = {r.submission_id: r.finished_at for r in rows if r.status.value in DONE}
            if len(finished) == len(ids):
                break
            if time.monotonic() - start > args.timeout_s:
                raise RuntimeError(f"{mode}: only {len(finished)} of {len(ids)} marks within {args.timeout_s:.0f}s")
            time.sleep(1)
        wall_s = time.monotonic() - start
        with sessions() as session:
            counts = dict(
                session.execute(
                    select(GradingRun.status, func.count())
                    .where(GradingRun.kind == RunKind.full)
                    .group_by(GradingRun.status)
                ).all()
            )
    waits = [(finished[i] - received[i]).total_seconds() for i in ids]
    last = {i: shown[i] for i in ids if i in shown}  # the ETAs read for uploads that were last indeed
    etas = [
        (v["eta_s"], finished[i].timestamp() - v["read_at"])
        for i, v in last.items()
        if v["eta_s"] is not None and finished[i].timestamp() - v["read_at"] > 0
    ]
    ratios = [shown / real for shown, real in etas]
    details = sorted(
        (
            {
                "position": v["position"],
                "eta_s": v["eta_s"],
                "real_s": round(finished[i].timestamp() - v["read_at"], 1),
            }
            for i, v in last.items()
        ),
        key=lambda d: d["real_s"],
    )
    return {
        "mode": mode,
        "uploads": len(plan),
        "students": len(ids),
        "wall_s": round(wall_s, 1),
        "upload_span_s": round(uploaded_s, 1),
        "full_runs_graded": counts.get(RunStatus.graded, 0),
        "full_runs_superseded": counts.get(RunStatus.superseded, 0),
        "last_upload_to_mark_s": {
            "p50": round(percentile(waits, 0.5), 1),
            "p99": round(percentile(waits, 0.99), 1),
            "max": round(max(waits), 1),
        },
        "eta": {
            "shown": len(etas),
            "median_shown_over_real": round(statistics.median(ratios), 3) if ratios else None,
            "median_abs_error": round(statistics.median(abs(r - 1) for r in ratios), 3) if ratios else None,
            "within_25_percent": round(sum(abs(r - 1) <= 0.25 for r in ratios) / len(ratios), 3) if ratios else None,
            "per_student": details,  # the place and ETA shown right after the last upload, and the real wait
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=40, help="the issue's size is 300")
    parser.add_argument("--max-uploads", type=int, default=5, help="each student uploads 1 to this many times")
    parser.add_argument("--window-s", type=float, default=120, help="the compressed last hour, in seconds")
    parser.add_argument("--workers", type=int, default=2, help="grader worker processes (one job each)")
    parser.add_argument("--api-workers", type=int, default=1, help="uvicorn --workers")
    parser.add_argument("--modes", default="fifo,fair", help="fifo, fair or both, in this order")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--redis-db", type=int, default=DEFAULT_REDIS_DB, help="the broker (flushed at the end)")
    parser.add_argument("--timeout-s", type=float, default=3600, help="give up on a mode after this long")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"fifo", "fair"}:
        parser.error("--modes: fifo, fair or both")
    if min(args.students, args.max_uploads, args.workers, args.api_workers) < 1 or args.window_s <= 0:
        parser.error("--students, --max-uploads, --workers, --api-workers and --window-s must be positive")
    interrupt_on_sigterm()

    plan = schedule(args.students, args.max_uploads, args.window_s, args.seed)
    rubrics_root = Path(tempfile.mkdtemp(prefix="grader-bench-rush-rubrics-"))
    try:
        rubrics = tiny_coursework(rubrics_root)
        results = []
        for mode in modes:
            results.append(run_mode(mode, plan, args, rubrics))
            log(f"{mode}: done: {json.dumps({k: v for k, v in results[-1].items() if k != 'eta'})}")
            log(f"{mode}: eta: {json.dumps({k: v for k, v in results[-1]['eta'].items() if k != 'per_student'})}")
    finally:
        shutil.rmtree(rubrics_root, ignore_errors=True)

    print(f"{'mode':<5} {'uploads':>7} {'graded':>6} {'superseded':>10} {'p50 s':>7} {'p99 s':>7} {'max s':>7}  eta")
    for r in results:
        w, e = r["last_upload_to_mark_s"], r["eta"]
        eta = (
            f"median shown/real {e['median_shown_over_real']}, within 25 %: {e['within_25_percent']}"
            if r["mode"] == "fair" and e["shown"]
            else "-"
        )
        print(
            f"{r['mode']:<5} {r['uploads']:>7} {r['full_runs_graded']:>6} {r['full_runs_superseded']:>10} "
            f"{w['p50']:>7} {w['p99']:>7} {w['max']:>7}  {eta}"
        )
    result = {
        "students": args.students,
        "max_uploads": args.max_uploads,
        "window_s": args.window_s,
        "workers": args.workers,
        "seed": args.seed,
        "cpus": os.cpu_count(),
        "modes": results,
    }
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "rush.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # each mode's ExitStack has already cleaned up
        sys.exit("interrupted; the bench databases, Redis db, processes and temp files are cleaned up")
