"""Grading throughput of the service (API + workers) against `grader grade` one by one, same run.

    .venv/bin/python bench/throughput.py [-n 6] [--workers 2]

N distinct CW1 submissions (the reference solution and student-style variants from
tests/cw1_submissions.py whose marks do not depend on the training run, each tagged with its own
markdown cell) are graded twice:

1. baseline: one after another with `.venv/bin/grader grade FILE --coursework cw1 --json`;
2. the service: a throwaway Postgres gradebook, the real API under uvicorn, ``--workers`` real
   `grader worker` processes (one job at a time each) on a Redis db; all N uploaded through the
   API, then the gradebook polled until every run is finished. The clock runs from the first
   upload to the moment the last run is seen finished.

Reports submissions graded per minute for both and their ratio, and checks that each submission's
score from the service equals its CLI score (exit 1 if not, or if any run failed). Prints a table
and a JSON line (also written to bench/results/throughput.json). ``--warm-judges K``: the workers
keep K warm judges each (``GRADER_WARM_JUDGES``).

First, unless ``--no-saturation``: cold against warm judges at saturation (bench/results/
throughput_saturation.json). ``--workers`` worker-like processes, each grading ``--jobs`` one-cell
submissions (numpy, then torch) back to back with its own ``WarmJudges`` (size 0: cold; size 1:
warm), all started together: jobs per minute over the wall time until the last is done, and
CPU-seconds per job, every process of the run counted (the workers, their judges, their
sandboxes: bwrap's chain reaps every process, so its CPU reaches our rusage; the pool's warm-up
of the units it refills, and of those left at the end, included). Every job must score its point.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _service import (
    BIN,
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

COURSEWORK = "cw1"
# Variants whose score is exact whatever the judge's seed (no accuracy band in doubt), and quick:
# no timeouts. The reference solution comes first.
VARIANTS = (
    "colab_correct",
    "conv_ignores_stride",
    "maxpool_default_stride_one",
    "bn_batch_stats_in_eval",
    "conv_uses_library",
)
DONE = ("graded", "error", "cancelled")


def write_submissions(folder: Path, count: int) -> list[Path]:
    """``count`` distinct notebooks: the reference and the variants in turn, each with a markdown
    cell naming its copy (markdown changes no mark)."""
    import nbformat

    sys.path.insert(0, str(REPO / "tests"))
    from cw1_submissions import SUBMISSIONS

    pool = [("solution", nbformat.read(REPO / "rubrics" / COURSEWORK / "solution.ipynb", as_version=4))]
    pool += [(name, SUBMISSIONS[name][0]) for name in VARIANTS]
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        name, nb = pool[i % len(pool)]
        copy = nbformat.from_dict(nb)
        copy.cells.append(nbformat.v4.new_markdown_cell(f"Benchmark copy {i}."))
        path = folder / f"{i:03d}-{name}.ipynb"
        nbformat.write(copy, path)
        paths.append(path)
    return paths


def grade_cli(paths: list[Path]) -> tuple[float, list[dict]]:
    """The baseline: each file through `grader grade --json`, one at a time."""
    reports = []
    start = time.monotonic()
    for path in paths:
        t0 = time.monotonic()
        proc = subprocess.run(
            [str(BIN / "grader"), "grade", str(path), "--coursework", COURSEWORK, "--json"],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise RuntimeError(
                f"grader grade {path.name} exited {proc.returncode} without JSON:\n"
                f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
            ) from None
        reports.append(
            {
                "status": report["status"],
                "score": report["score"],
                "error": report.get("error"),
                "seconds": round(time.monotonic() - t0, 2),
            }
        )
        log(f"cli: {path.name}: {report['status']} {report['score']} in {reports[-1]['seconds']}s")
    return time.monotonic() - start, reports


def grade_service(url: str, base: str, tokens: list[str], paths: list[Path], timeout_s: float) -> dict:
    """Upload every file through the API, then poll the gradebook until each run is finished."""
    import httpx
    from sqlalchemy import func, select

    from grader.db.engine import make_engine, session_factory
    from grader.runs.models import GradingRun, RunKind
    from grader.submissions.models import Submission

    start = time.monotonic()
    ids: list[uuid.UUID] = []
    with httpx.Client(timeout=300) as client:
        for path, token in zip(paths, tokens, strict=True):
            with path.open("rb") as fh:
                response = client.post(
                    f"{base}/api/v1/courseworks/{COURSEWORK}/submissions",
                    headers={"Authorization": f"Bearer {token}"},
                    files={"file": (path.name, fh, "application/x-ipynb+json")},
                )
            if response.status_code != 201:
                raise RuntimeError(f"upload of {path.name} refused: {response.status_code} {response.text[:300]}")
            ids.append(uuid.UUID(response.json()["id"]))
    uploaded_s = time.monotonic() - start

    engine = make_engine(url)
    sessions = session_factory(engine)
    runs: dict[uuid.UUID, GradingRun] = {}
    try:
        while True:
            with sessions() as session:
                # The latest full run of each submission: a retried run supersedes its predecessor.
                rows = session.scalars(
                    select(GradingRun)
                    .where(GradingRun.submission_id.in_(ids), GradingRun.kind == RunKind.full)
                    .order_by(GradingRun.id)
                )
                runs = {r.submission_id: r for r in rows}
            finished = [r for r in runs.values() if r.status.value in DONE]
            if len(finished) == len(ids):
                break
            if time.monotonic() - start > timeout_s:
                raise RuntimeError(f"only {len(finished)} of {len(ids)} runs finished within {timeout_s:.0f}s")
            time.sleep(0.5)
        wall_s = time.monotonic() - start
        with sessions() as session:
            first = session.scalar(select(func.min(Submission.received_at)).where(Submission.id.in_(ids)))
        last = max(r.finished_at for r in runs.values())
    finally:
        engine.dispose()
    return {
        "wall_s": wall_s,
        "uploaded_s": uploaded_s,
        "db_span_s": (last - first).total_seconds(),
        "runs": [
            {
                "status": runs[i].status.value,
                "score": runs[i].score,
                "error": runs[i].error,
                "attempt": runs[i].attempt,
                "seconds": runs[i].duration_s,
            }
            for i in ids
        ],
    }


def compare(paths: list[Path], cli: list[dict], api: list[dict]) -> list[dict]:
    rows = []
    for path, c, a in zip(paths, cli, api, strict=True):
        same = (
            c["status"] == a["status"] == "graded"
            and c["score"] is not None
            and a["score"] is not None
            and abs(c["score"] - a["score"]) <= 0.01
        )
        rows.append(
            {
                "file": path.name,
                "cli_status": c["status"],
                "cli_score": c["score"],
                "api_status": a["status"],
                "api_score": a["score"],
                "same": same,
                "cli_s": c["seconds"],
                "api_run_s": round(a["seconds"], 2) if a["seconds"] else None,
            }
        )
    return rows


def _saturating_worker(kind: str, size: int, jobs: int, start_at: float, out: Any) -> None:
    """One worker-like process: its own pool, ``jobs`` gradings back to back; sends (done, cpu_s)."""
    import resource

    from _tiny_cw import tiny_coursework

    from grader.grading.pipeline import grade_submission
    from grader.settings import get_settings
    from workers.judge.warm_pool import WarmJudges

    settings = get_settings().model_copy(update={"sandbox_backend": "bwrap"})
    cw, notebook = tiny_coursework(Path(tempfile.mkdtemp(prefix="grader-bench-tiny-")), kind)
    time.sleep(max(0.0, start_at - time.time()))
    done = 0
    with WarmJudges(settings, size) as judges:
        for _ in range(jobs):
            report = grade_submission(notebook, cw, settings, judge=judges)
            done += report.status == "graded" and report.score == 1
    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    out.send((done, sum(u.ru_utime + u.ru_stime for u in usage)))


def saturation(workers: int, jobs: int, warm: int) -> dict[str, Any]:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    results: dict[str, Any] = {"workers": workers, "jobs_per_worker": jobs, "warm_pool": warm}
    for kind in ("numpy", "torch"):
        for mode, size in (("cold", 0), ("warm", warm)):
            start_at = time.time() + 5  # every worker imported and ready: the clock starts together
            pipes, procs = [], []
            for _ in range(workers):
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_saturating_worker, args=(kind, size, jobs, start_at, send))
                proc.start()
                pipes.append(recv)
                procs.append(proc)
            got = [p.recv() for p in pipes]
            wall = time.time() - start_at
            for proc in procs:
                proc.join()
            done, cpu = sum(g[0] for g in got), sum(g[1] for g in got)
            if done != workers * jobs:
                raise SystemExit(f"saturation {kind}/{mode}: {done} of {workers * jobs} jobs scored their point")
            results[f"{kind}/{mode}"] = {
                "jobs_per_min": round(done / wall * 60, 2),
                "cpu_s_per_job": round(cpu / done, 2),
                "wall_s": round(wall, 1),
            }
            log(f"saturation {kind}/{mode}: {results[f'{kind}/{mode}']}")
        cold, hot = results[f"{kind}/cold"], results[f"{kind}/warm"]
        results[f"{kind}/ratio_warm_vs_cold"] = {
            "jobs_per_min": round(hot["jobs_per_min"] / cold["jobs_per_min"], 3),
            "cpu_s_per_job": round(hot["cpu_s_per_job"] / cold["cpu_s_per_job"], 3),
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--submissions", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2, help="grader worker processes (one job each)")
    parser.add_argument("--api-workers", type=int, default=1, help="uvicorn --workers")
    parser.add_argument("--redis-db", type=int, default=DEFAULT_REDIS_DB, help="the broker (flushed at the end)")
    parser.add_argument("--timeout-s", type=float, default=3600, help="give up on the service after this long")
    parser.add_argument("--warm-judges", type=int, default=0, help="warm judges per service worker")
    parser.add_argument("--jobs", type=int, default=6, help="saturation: jobs per worker-like process")
    parser.add_argument("--warm", type=int, default=1, help="saturation: the warm pool's size")
    parser.add_argument("--no-saturation", action="store_true", help="skip cold against warm at saturation")
    parser.add_argument("--no-service", action="store_true", help="skip the service against `grader grade`")
    args = parser.parse_args()
    if min(args.submissions, args.workers, args.api_workers) < 1:
        parser.error("-n, --workers and --api-workers must be at least 1")
    interrupt_on_sigterm()
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    if not args.no_saturation:
        sat = saturation(args.workers, args.jobs, args.warm)
        (out / "throughput_saturation.json").write_text(json.dumps(sat, indent=2))
        print(json.dumps(sat))
    if args.no_service:
        return 0

    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="grader-bench-throughput-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        paths = write_submissions(tmp / "submissions", args.submissions)

        log(f"baseline: {len(paths)} submissions through `grader grade`, one by one...")
        cli_s, cli = grade_cli(paths)

        url = stack.enter_context(bench_database("grader_bench_throughput"))
        broker = stack.enter_context(redis_database(args.redis_db))
        rubrics = Path(os.environ.get("GRADER_RUBRICS_DIR", REPO / "rubrics"))
        sync_rubrics(url, rubrics)
        tokens = add_students(url, len(paths), "tp")
        # The workers' own jobs folder (under /var/tmp: the sandbox uid must reach it), removed at
        # the end with whatever a killed job left there.
        jobs = Path(tempfile.mkdtemp(prefix="grader-bench-jobs-", dir="/var/tmp"))
        stack.callback(shutil.rmtree, jobs, ignore_errors=True)
        env = service_env(
            database_url=url,
            broker_url=broker,
            blob_dir=tmp / "blobs",
            rubrics_dir=rubrics,
            submissions_per_hour=1000,
            jobs_dir=jobs,
        )
        env["GRADER_WARM_JUDGES"] = str(args.warm_judges)
        base = start_api(stack, env, tmp, workers=args.api_workers)
        start_workers(stack, env, tmp, args.workers)
        log(f"service: API at {base}, {args.workers} workers ready; uploading {len(paths)} submissions...")
        api = grade_service(url, base, tokens, paths, args.timeout_s)

    rows = compare(paths, cli, api["runs"])
    n = len(paths)
    cli_rate, api_rate = n / cli_s * 60, n / api["wall_s"] * 60
    result = {
        "submissions": n,
        "workers": args.workers,
        "api_workers": args.api_workers,
        "cli_total_s": round(cli_s, 2),
        "cli_per_min": round(cli_rate, 3),
        "service_wall_s": round(api["wall_s"], 2),
        "service_per_min": round(api_rate, 3),
        "service_upload_s": round(api["uploaded_s"], 2),
        "service_db_span_s": round(api["db_span_s"], 2),
        "ratio_service_vs_cli": round(api_rate / cli_rate, 3),
        "scores_match": all(r["same"] for r in rows),
        "per_submission": rows,
    }
    width = max(len(r["file"]) for r in rows)
    print(f"{'submission'.ljust(width)}  {'cli':>14}  {'service':>14}  same")
    for r in rows:
        print(
            f"{r['file'].ljust(width)}  {r['cli_status'][:6]:>6} {r['cli_score']!s:>7}  "
            f"{r['api_status'][:6]:>6} {r['api_score']!s:>7}  {'yes' if r['same'] else 'NO'}"
        )
    print(
        f"`grader grade` one by one: {n} in {cli_s:.1f}s = {cli_rate:.2f}/min; service with {args.workers} "
        f"workers: {n} in {api['wall_s']:.1f}s = {api_rate:.2f}/min; ratio {api_rate / cli_rate:.2f}"
    )
    (out / "throughput.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    if not result["scores_match"]:
        print("FAILED: a service score differs from its CLI score (or a run did not grade)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the ExitStack in main has already cleaned up
        sys.exit("interrupted; the bench database, Redis db, processes and temp files are cleaned up")
