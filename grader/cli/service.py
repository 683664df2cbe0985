"""Running the service: ``grader serve``, ``up`` and ``worker`` (a GPU worker pinned to its device),
and ``grader db upgrade``."""

from __future__ import annotations

import gc
import sys

import click

from grader.cli.app import main, safe_url
from grader.settings import get_settings


@main.group()
def db() -> None:
    """The gradebook database."""


@db.command("upgrade")
@click.option("--url", default=None, help="SQLAlchemy URL (default: GRADER_DATABASE_URL from settings)")
@click.option("--revision", default="head", show_default=True, help="migrate to this revision")
def db_upgrade(url: str | None, revision: str) -> None:
    """Apply the migrations in migrations/ (a step of its own: nothing migrates on import)."""
    from grader.db.migrate import upgrade  # Alembic only loads for this command

    url = url or get_settings().database_url
    upgrade(url, revision, secret_key=get_settings().secret_key)
    click.echo(f"gradebook at {revision}: {safe_url(url)}")


@main.command()
@click.option("--host", default=None, help="default: settings.host")
@click.option("--port", type=int, default=None, help="default: settings.port")
def serve(host: str | None, port: int | None) -> None:
    """Run the REST API and the dashboard (uvicorn). The gradebook must be migrated first: `grader db upgrade`."""
    import uvicorn

    from grader.server import create_app
    from workers.dispatch import CeleryRunQueue  # Celery itself loads on the first wake-up

    settings = get_settings()
    app = create_app(settings, run_queue=CeleryRunQueue(settings))
    # What start-up loaded lives as long as the process: frozen, a full collection no longer walks it
    # (a full pass took about 100 ms, the overview's p99 in bench/dashboard.py).
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=host or settings.host, port=port or settings.port)


@main.command()
@click.option("--host", default=None, help="default: settings.host")
@click.option("--port", type=int, default=None, help="default: settings.port")
@click.option(
    "--demo/--no-demo",
    default=True,
    show_default=True,
    help="demo accounts (a lecturer, a GTA, two students on the roster) with fresh tokens each start",
)
@click.option(
    "--stop-timeout",
    type=click.FloatRange(min=0),
    default=30,
    show_default=True,
    help="seconds a stopping worker may spend finishing its job before it is killed",
)
def up(host: str | None, port: int | None, demo: bool, stop_timeout: float) -> None:
    """Start the whole service on this machine: migrate the gradebook, load every coursework, make the
    demo accounts, start a worker and the API, and print how to use them. Ctrl-C stops it all."""
    from grader.embedded.up import StartError, run_service

    try:
        code = run_service(get_settings(), host=host, port=port, demo=demo, stop_timeout_s=stop_timeout, out=click.echo)
    except StartError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


@main.command()
@click.option(
    "--queues",
    "-Q",
    default=None,
    help="broker queues to serve, comma-separated (default: precheck + GRADER_WORKER_QUEUES)",
)
@click.option("--concurrency", "-c", type=int, default=1, show_default=True, help="jobs graded at once")
@click.option(
    "--sweep/--no-sweep",
    default=True,
    show_default=True,
    help="also run the sweeper (expired leases, lost wake-ups) in this worker",
)
@click.option("--loglevel", default="INFO", show_default=True)
@click.option(
    "--gpu-device",
    default=None,
    help="pin this gpu-queue worker to one GPU or MIG slice (index or UUID; default queues: gpu). "
    "Run one worker per GPU / MIG slice.",
)
def worker(queues: str | None, concurrency: int, sweep: bool, loglevel: str, gpu_device: str | None) -> None:
    """Start a Celery worker that grades queued runs (SIGTERM: finish the job in hand, then stop)."""
    from workers.worker import run_worker  # Celery only loads for this command

    settings = get_settings()
    names = (
        [q.strip() for q in queues.split(",") if q.strip()]
        if queues
        else ["gpu"]
        if gpu_device is not None
        else ["precheck", *settings.worker_queues]
    )
    if gpu_device is not None:
        settings = _pin_gpu(settings, gpu_device, names, concurrency)
    sys.exit(run_worker(settings, names, concurrency=concurrency, sweep=sweep, loglevel=loglevel))


def _pin_gpu(settings, device: str, queues: list[str], concurrency: int):
    """Check the device is there and in service, hand it to the judges this worker starts, and stop
    the worker once a judge takes the device out of service."""
    from workers.sandbox.gpu import GpuError, OutOfServiceWatch, job_device

    if "gpu" not in queues:
        raise click.UsageError("--gpu-device pins a worker of the gpu queue: add gpu to --queues")
    if concurrency != 1:
        raise click.UsageError("a gpu worker runs one job at a time on its device: --concurrency 1")
    settings = settings.model_copy(update={"gpu_device": device.strip()})
    try:
        pinned = job_device(settings)
    except GpuError as exc:
        raise click.ClickException(str(exc)) from None
    # The judges this worker starts read the pin from their job file (JudgeJob.gpu_device).
    settings = settings.model_copy(update={"gpu_device": pinned.uuid})
    OutOfServiceWatch(settings, pinned).start()
    click.echo(f"gpu worker pinned to GPU {pinned.index} ({pinned.uuid})", err=True)
    return settings
