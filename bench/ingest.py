"""A deadline rush on the upload path: how fast the API takes uploads, and that it loses none.

    .venv/bin/python bench/ingest.py [--students 300] [--uploads-each 3] [--zips 50]
                                     [--notebook-mb 5] [--zip-mb 100] [--concurrency 32] [--api-workers 2]

A throwaway Postgres database (migrated), blob store and rubric folder; the real API under uvicorn
(``--api-workers`` processes) with wake-ups going to a real Redis db that no worker reads. A second
process, the load generator, uploads as fast as the API takes them over ``--concurrency``
connections: ``students x uploads-each`` distinct valid notebooks of ``--notebook-mb`` (one student
each) and ``--zips`` distinct zips of ``--zip-mb`` (a notebook and a random model file, one more
student each), shuffled together, each with its own Idempotency-Key.

Afterwards every receipt is checked against the gradebook (a row with the same sha256 and size) and
the blob store (the blob re-hashed): ``lost`` counts receipts without both and must be 0. Refused or
failed uploads are counted apart, and none of them may have been stored. Prints a table and a JSON
line (also written to bench/results/ingest.json); exits 1 if anything was lost or wrongly stored.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import statistics
import struct
import sys
import tempfile
import textwrap
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
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
    sync_rubrics,
)

COURSEWORK = "benchin"
NOTEBOOK = "bench.ipynb"
MODEL = "model.pt"
MARKER = "__BENCH_VARIANT_000000000000__"  # replaced by a same-length tag: every upload distinct
MiB = 1 << 20


def write_rubric(root: Path, max_mb: int) -> Path:
    """A coursework taking a notebook, or a zip with the notebook and an optional model file."""
    folder = root / COURSEWORK
    (folder / "hidden").mkdir(parents=True)
    (folder / "hidden" / "test_bench.py").write_text("def test_nothing():\n    pass\n")
    (folder / "rubric.yaml").write_text(
        textwrap.dedent(f"""\
        coursework: {COURSEWORK}
        title: "Ingest benchmark"
        weight: 0.4
        total_points: 1
        submission: {{notebook: {NOTEBOOK}, optional_files: [{MODEL}], max_mb: {max_mb}}}
        mode: none
        parts: [{{id: p1, title: One, points: 1}}]
        items:
          - {{id: one, part: p1, title: One, points: 1, auto: {{tests: ["test_bench.py::test_nothing"]}}}}
        """)
    )
    return root


# -- the load generator: a second process ---------------------------------------------------------


def notebook_template(size_mb: float) -> bytes:
    """A valid nbformat-4 notebook of about ``size_mb`` MiB (a big base64 image output), holding
    ``MARKER`` once."""
    import nbformat
    from nbformat import v4

    cell = v4.new_code_cell(f'variant = "{MARKER}"\nshow(training_curves)')
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("# Coursework"), cell])
    overhead = len(nbformat.writes(nb).encode())
    raw = os.urandom(max(0, int(size_mb * MiB) - overhead - 200) * 3 // 4)
    cell.outputs = [v4.new_output("display_data", data={"image/png": base64.b64encode(raw).decode()})]
    text = nbformat.writes(nb)
    nbformat.validate(nbformat.reads(text, as_version=4))
    return text.encode()


def variant(template: bytes, tag: str) -> bytes:
    name = f"__BENCH_VARIANT_{tag:>12}__".replace(" ", "0")
    assert len(name) == len(MARKER)
    return template.replace(MARKER.encode(), name.encode(), 1)


def write_zip(path: Path, notebook: bytes, size_mb: float, index: int, block: bytes) -> tuple[str, int]:
    """A stored (uncompressed) zip of about ``size_mb`` MiB: the notebook and a model file that is
    random bytes, distinct per ``index``. Returns (sha256, size)."""
    model_bytes = max(1, int(size_mb * MiB) - len(notebook) - 512)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(NOTEBOOK, notebook)
        with zf.open(MODEL, "w", force_zip64=True) as out:
            written, chunk_no = 0, 0
            while written < model_bytes:
                chunk = struct.pack(">QQ", index, chunk_no) + block[16:]
                chunk = chunk[: model_bytes - written]
                out.write(chunk)
                written += len(chunk)
                chunk_no += 1
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while data := fh.read(MiB):
            digest.update(data)
    return digest.hexdigest(), path.stat().st_size


def run_load(jobs: list[dict], base: str, args: dict, tmp: str, result_path: str) -> None:
    """The load generator's whole life: make the files, rush them at the API, write the records."""
    import httpx

    tmp_path = Path(tmp)
    started = time.perf_counter()
    template = notebook_template(args["notebook_mb"])
    small = notebook_template(0.01)
    block = os.urandom(MiB)
    zips: dict[int, tuple[Path, str, int]] = {}
    for job in jobs:
        if job["kind"] == "zip":
            path = tmp_path / f"upload-{job['index']}.zip"
            sha, size = write_zip(path, variant(small, f"z{job['index']}"), args["zip_mb"], job["index"], block)
            zips[job["index"]] = (path, sha, size)
    prepare_s = time.perf_counter() - started
    print(f"load generator: files ready in {prepare_s:.1f}s; rushing {len(jobs)} uploads", file=sys.stderr, flush=True)

    limits = httpx.Limits(max_connections=args["concurrency"], max_keepalive_connections=args["concurrency"])
    # Generous: on a busy 2-core machine a 100 MB upload behind 31 others is slow, not lost.
    timeout = httpx.Timeout(args["request_timeout_s"], connect=60)
    url = f"{base}/api/v1/courseworks/{COURSEWORK}/submissions"

    def upload(job: dict) -> dict:
        if job["kind"] == "zip":
            path, sha, size = zips[job["index"]]
            content: object = path.open("rb")
            name, mime = f"submission-{job['index']}.zip", "application/zip"
        else:
            data = variant(template, f"n{job['index']}")
            sha, size, content = hashlib.sha256(data).hexdigest(), len(data), data
            name, mime = NOTEBOOK, "application/x-ipynb+json"
        record = {
            **{k: job[k] for k in ("kind", "index", "key")},
            "sent_sha256": sha,
            "sent_size": size,
            "status": None,
            "error": None,
            "receipt": None,
        }
        headers = {"Authorization": f"Bearer {job['token']}", "Idempotency-Key": job["key"]}
        record["start"] = time.perf_counter()
        try:
            response = client.post(url, headers=headers, files={"file": (name, content, mime)})
            record["status"] = response.status_code
            if response.status_code in (200, 201):
                record["receipt"] = response.json()
            else:
                record["error"] = response.text[:300]
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            record["end"] = time.perf_counter()
            if job["kind"] == "zip":
                content.close()  # type: ignore[attr-defined]
        return record

    with (
        httpx.Client(limits=limits, timeout=timeout) as client,
        ThreadPoolExecutor(max_workers=args["concurrency"]) as pool,
    ):
        records = list(pool.map(upload, jobs))
    Path(result_path).write_text(json.dumps({"prepare_s": prepare_s, "records": records}))


# -- the benchmark --------------------------------------------------------------------------------


def plan(tokens_nb: list[str], tokens_zip: list[str], uploads_each: int) -> list[dict]:
    jobs = []
    for s, token in enumerate(tokens_nb):
        for u in range(uploads_each):
            i = s * uploads_each + u
            jobs.append({"kind": "notebook", "index": i, "token": token, "key": f"bench-nb-{i}"})
    for i, token in enumerate(tokens_zip):
        jobs.append({"kind": "zip", "index": i, "token": token, "key": f"bench-zip-{i}"})
    random.Random(0).shuffle(jobs)  # a rush mixes them: zips arrive among the notebooks
    return jobs


def generate_load(stack: ExitStack, jobs: list[dict], base: str, args: argparse.Namespace, tmp: Path) -> dict:
    """Run ``run_load`` in a second process and return what it recorded."""
    ctx = multiprocessing.get_context("spawn")
    result = tmp / "load.json"
    (tmp / "load").mkdir()
    options = {k: getattr(args, k) for k in ("notebook_mb", "zip_mb", "concurrency", "request_timeout_s")}
    proc = ctx.Process(
        target=run_load, args=(jobs, base, options, str(tmp / "load"), str(result)), name="load-generator"
    )
    proc.start()

    def _stop() -> None:
        if proc.is_alive():
            proc.terminate()
        proc.join()

    stack.callback(_stop)
    proc.join()
    if proc.exitcode != 0 or not result.is_file():
        raise RuntimeError(f"the load generator failed (exit {proc.exitcode})")
    shutil.rmtree(tmp / "load", ignore_errors=True)  # its zips: gigabytes at full size
    return json.loads(result.read_text())


def verify(url: str, blob_dir: Path, records: list[dict]) -> dict:
    """Every receipt against the gradebook and the blob store; every failure against both."""
    from sqlalchemy import select

    from grader.blobs import BlobNotFound, LocalBlobStore
    from grader.db.engine import make_engine, session_factory
    from grader.submissions.models import Submission

    engine = make_engine(url)
    with session_factory(engine)() as session:
        rows = {r.id: r for r in session.scalars(select(Submission))}
    engine.dispose()
    by_key = {r.idempotency_key: r for r in rows.values()}
    store = LocalBlobStore(blob_dir)

    def blob_hash(sha: str) -> tuple[str, int] | None:
        digest, size = hashlib.sha256(), 0
        try:
            with store.open(sha) as fh:
                while chunk := fh.read(MiB):
                    digest.update(chunk)
                    size += len(chunk)
        except BlobNotFound:
            return None
        return digest.hexdigest(), size

    ok = [r for r in records if r["receipt"] is not None]
    failed = [r for r in records if r["receipt"] is None]
    with ThreadPoolExecutor(max_workers=2) as pool:  # hashing releases the GIL
        blobs = list(pool.map(lambda r: blob_hash(r["receipt"]["sha256"]), ok))
    lost = []
    for r, blob in zip(ok, blobs, strict=True):
        receipt = r["receipt"]
        row = rows.get(uuid.UUID(receipt["id"]))
        same = (receipt["sha256"], receipt["size_bytes"]) == (r["sent_sha256"], r["sent_size"])
        row_ok = row is not None and (row.sha256, row.size_bytes) == (receipt["sha256"], receipt["size_bytes"])
        blob_ok = blob == (receipt["sha256"], receipt["size_bytes"])
        if not (same and row_ok and blob_ok):
            lost.append({"key": r["key"], "receipt_matches_sent": same, "row": row_ok, "blob": blob_ok})
    stored_failures = [r["key"] for r in failed if r["key"] in by_key or store.exists(r["sent_sha256"])]
    receipt_ids = {uuid.UUID(r["receipt"]["id"]) for r in ok}
    return {
        "lost": lost,
        "stored_failures": stored_failures,
        "rows": len(rows),
        "rows_without_receipt": len(set(rows) - receipt_ids),
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summarise(
    records: list[dict], checked: dict, args: argparse.Namespace, prepare_s: float, wakeups: int | None
) -> dict:
    rush_s = max(r["end"] for r in records) - min(r["start"] for r in records)
    kinds = {}
    for kind in ("notebook", "zip", "all"):
        mine = [r for r in records if kind in ("all", r["kind"])]
        ok = [r for r in mine if r["receipt"] is not None]
        lat = sorted(r["end"] - r["start"] for r in ok)
        nbytes = sum(r["sent_size"] for r in ok)
        kinds[kind] = {
            "sent": len(mine),
            "stored": len(ok),
            "errors": len(mine) - len(ok),
            "uploads_per_s": round(len(ok) / rush_s, 2),
            "mb_per_s": round(nbytes / MiB / rush_s, 2),
            "p50_s": round(percentile(lat, 50), 3),
            "p99_s": round(percentile(lat, 99), 3),
            "max_s": round(lat[-1], 3) if lat else None,
        }
    statuses: dict[str, int] = {}
    for r in records:
        key = str(r["status"]) if r["status"] is not None else "no reply"
        statuses[key] = statuses.get(key, 0) + 1
    return {
        "students": args.students,
        "uploads_each": args.uploads_each,
        "zips": args.zips,
        "notebook_mb": args.notebook_mb,
        "zip_mb": args.zip_mb,
        "concurrency": args.concurrency,
        "api_workers": args.api_workers,
        "server": f"uvicorn --workers {args.api_workers}",
        "prepare_s": round(prepare_s, 1),
        "rush_s": round(rush_s, 2),
        "by_kind": kinds,
        "statuses": statuses,
        "lost": len(checked["lost"]),
        "lost_detail": checked["lost"][:10],
        "stored_failures": len(checked["stored_failures"]),
        "rows": checked["rows"],
        "rows_without_receipt": checked["rows_without_receipt"],
        "wakeups_in_redis": wakeups,
        "error_samples": sorted({str(r["error"])[:160] for r in records if r["error"]})[:5],
    }


def print_table(result: dict) -> None:
    print(
        f"{'kind':<9} {'sent':>5} {'stored':>6} {'errors':>6} {'uploads/s':>9} {'MB/s':>7} "
        f"{'p50 s':>7} {'p99 s':>7} {'max s':>7}"
    )
    for kind, k in result["by_kind"].items():
        print(
            f"{kind:<9} {k['sent']:>5} {k['stored']:>6} {k['errors']:>6} {k['uploads_per_s']:>9} "
            f"{k['mb_per_s']:>7} {k['p50_s']:>7} {k['p99_s']:>7} {str(k['max_s']):>7}"
        )
    print(
        f"rush {result['rush_s']}s over {result['concurrency']} connections, {result['server']}; "
        f"lost {result['lost']}, failed-but-stored {result['stored_failures']}, statuses {result['statuses']}"
    )


def count_wakeups(redis_url: str) -> int | None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.llen("cpu"))  # kombu's Redis transport: one list per queue
    except redis.exceptions.RedisError:
        return None
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=300, help="students uploading notebooks")
    parser.add_argument("--uploads-each", type=int, default=3, help="notebooks per student")
    parser.add_argument("--zips", type=int, default=50, help="zip uploads (one student each, on top)")
    parser.add_argument("--notebook-mb", type=float, default=5)
    parser.add_argument("--zip-mb", type=float, default=100)
    parser.add_argument("--concurrency", type=int, default=32, help="connections of the load generator")
    parser.add_argument("--api-workers", type=int, default=2, help="uvicorn --workers")
    parser.add_argument("--redis-db", type=int, default=DEFAULT_REDIS_DB, help="where wake-ups go (flushed at the end)")
    parser.add_argument("--request-timeout-s", type=float, default=900)
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temp folder (logs, blobs) for a look")
    args = parser.parse_args()
    if (
        min(args.students, args.uploads_each, args.concurrency, args.api_workers) < 1
        or args.zips < 0
        or args.notebook_mb <= 0
        or args.zip_mb <= 0
    ):
        parser.error("counts must be at least 1 (--zips at least 0) and sizes positive")
    interrupt_on_sigterm()

    biggest_mb = max(args.notebook_mb, args.zip_mb)
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="grader-bench-ingest-", dir=os.environ.get("GRADER_BENCH_TMP")))
        if not args.keep_tmp:
            stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        url = stack.enter_context(bench_database("grader_bench_ingest"))
        redis_url = stack.enter_context(redis_database(args.redis_db))
        rubrics = write_rubric(tmp / "rubrics", max_mb=int(biggest_mb) + 10)
        sync_rubrics(url, rubrics)
        log(f"adding {args.students + args.zips} students with tokens...")
        tokens_nb = add_students(url, args.students, "nb")
        tokens_zip = add_students(url, args.zips, "zip")
        env = service_env(
            database_url=url,
            broker_url=redis_url,
            blob_dir=tmp / "blobs",
            rubrics_dir=rubrics,
            upload_max_mb=int(biggest_mb) + 20,
            submissions_per_hour=args.uploads_each + 1000,
            execution__max_notebook_mb=max(100, int(args.notebook_mb) + 10),
        )
        base = start_api(stack, env, tmp, workers=args.api_workers)
        log(f"API up at {base} (uvicorn --workers {args.api_workers}); starting the load generator")
        jobs = plan(tokens_nb, tokens_zip, args.uploads_each)
        load = generate_load(stack, jobs, base, args, tmp)
        records = load["records"]
        log("rush over; checking every receipt against the gradebook and the blob store...")
        checked = verify(url, tmp / "blobs", records)
        result = summarise(records, checked, args, load["prepare_s"], count_wakeups(redis_url))
        if args.keep_tmp:
            log(f"kept {tmp}")
    print_table(result)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    if result["lost"] or result["stored_failures"]:
        print(
            f"FAILED: {result['lost']} receipts lost, {result['stored_failures']} failed uploads stored",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the ExitStack in main has already cleaned up
        sys.exit("interrupted; the bench database, Redis db, processes and temp files are cleaned up")
