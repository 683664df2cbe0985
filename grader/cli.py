"""The ``grader`` command line."""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from grader.grading.batch import BatchUsageError, grade_batch, submission_paths
from grader.grading.pipeline import grade_submission
from grader.grading.report import render_table
from grader.rubrics.check import check_rubric
from grader.rubrics.loader import RubricError, load_coursework
from grader.settings import get_settings, settings_error
from workers.judge.launcher import SubprocessJudge  # the worker side grading runs on
from workers.launchers import make_launcher


@click.group()
def main() -> None:
    """Coursework autograder."""
    try:  # a refused setting (a placeholder secret) stops every command, with the reason
        get_settings()
    except ValidationError as exc:
        raise click.ClickException(settings_error(exc)) from None


def _coursework(name: str):
    try:
        return load_coursework(name, get_settings())
    except RubricError as exc:
        raise click.UsageError(str(exc)) from None


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--coursework", "-c", required=True, help="coursework id, e.g. cw1")
@click.option("--backend", type=click.Choice(["bwrap", "docker"]), default=None, help="sandbox backend")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object (one a line for several files)")
@click.option("--seed", type=int, default=None, help="fix the judge's random draws (reproduce a run)")
@click.option(
    "--artifacts-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="write the PNGs the hidden tests draw (for markers) into this folder (a folder per file in a batch)",
)
def grade(
    paths: tuple[Path, ...],
    coursework: str,
    backend: str | None,
    as_json: bool,
    seed: int | None,
    artifacts_dir: Path | None,
) -> None:
    """Grade a submission (a .ipynb, or a .zip with the notebook and model files), or a batch: several
    files, or folders (every .ipynb and .zip in them, sorted), one judge launcher for them all."""
    cw = _coursework(coursework)
    single = len(paths) == 1 and paths[0].is_file()
    try:
        files = submission_paths(paths)
    except BatchUsageError as exc:
        raise click.UsageError(str(exc)) from None
    if artifacts_dir is not None:  # before grading: a folder we cannot write is a usage error, not a lost run
        try:
            artifacts_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.UsageError(f"--artifacts-dir {artifacts_dir}: {exc.strerror or exc}") from None
        if not os.access(artifacts_dir, os.W_OK | os.X_OK):
            raise click.UsageError(f"--artifacts-dir {artifacts_dir}: not writable")
    settings = get_settings()
    if single:  # the one-file contract (DESIGN.md "Interfaces"): one JSON object, exit 0 or 1
        with make_launcher(settings) as judge:
            report = grade_submission(
                files[0], cw, settings, judge=judge, backend=backend, seed=seed, artifacts_dir=artifacts_dir
            )
        click.echo(json.dumps(report.to_json(), indent=2) if as_json else render_table(report))
        sys.exit(0 if report.status == "graded" else 1)
    errors = 0
    with make_launcher(settings, jobs=len(files)) as judge:
        for item in grade_batch(
            files, cw, settings, judge=judge, backend=backend, seed=seed, artifacts_dir=artifacts_dir
        ):
            errors += item.report.status != "graded"
            if as_json:  # one object a line, printed as each is graded
                click.echo(json.dumps({"path": str(item.path), **item.report.to_json()}))
            else:
                click.echo(f"== {item.path}\n{render_table(item.report)}\n")
    if not as_json:
        click.echo(f"{len(files) - errors} of {len(files)} graded, {errors} ended in error")
    sys.exit(1 if errors else 0)


@main.group()
def rubric() -> None:
    """Rubric tools."""


@rubric.command("check")
@click.argument("coursework")
@click.option("--backend", type=click.Choice(["bwrap", "docker"]), default=None)
def rubric_check(coursework: str, backend: str | None) -> None:
    """Prove a rubric sound: the reference earns every auto point, the skeleton (nearly) none."""
    cw = _coursework(coursework)
    ok = True
    for line, passed in check_rubric(cw, get_settings(), judge=SubprocessJudge(), backend=backend):
        click.echo(("ok    " if passed else "FAIL  ") + line)
        ok &= passed
    sys.exit(0 if ok else 1)


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
    click.echo(f"gradebook at {revision}: {_safe_url(url)}")


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


@main.command("export")
@click.argument("coursework")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="write the CSV here (default: standard output)",
)
def export(coursework: str, out: Path | None) -> None:
    """A coursework's marks as CSV: the same file as GET /api/v1/courseworks/{cw}/export.csv."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from grader.courseworks.service import coursework_by_code
    from grader.marking.export import coursework_csv

    files = _coursework(coursework)
    try:
        with _sessions()() as session:
            row = coursework_by_code(session=session, code=coursework)
            if row is None:
                raise click.UsageError(
                    f"coursework {coursework!r} is not in the gradebook yet; "
                    "it is added when the service starts (`grader up` or `grader serve`)"
                )
            data = coursework_csv(session=session, rubric=files.rubric, coursework=row).encode()
    except (OperationalError, ProgrammingError) as exc:
        raise click.ClickException(
            f"cannot read the gradebook at {_safe_url(get_settings().database_url)} "
            f"(migrated? `grader db upgrade`): {exc.orig}"
        ) from None
    if out is None:
        click.echo(data, nl=False)  # bytes: written as they are (CRLF kept, as the API sends them)
    else:
        try:
            out.write_bytes(data)
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc.strerror}") from None
        click.echo(f"wrote {out}", err=True)


@main.group()
def users() -> None:
    """Accounts."""


@users.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["student", "gta", "lecturer", "service"]))
@click.option("--name", default=None, help="display name (default: the username)")
@click.option("--email", default=None)
@click.option(
    "--external-id", default=None, help="students: the course system's id; links (or adds) their roster entry"
)
def users_add(username: str, role: str, name: str | None, email: str | None, external_id: str | None) -> None:
    """Add an account."""
    from sqlalchemy import select

    from grader.roster.models import Student
    from grader.users.models import Role
    from grader.users.service import UserExists, create_user

    if external_id and role != "student":
        raise click.UsageError("--external-id is for students only")
    with _sessions()() as session:
        try:
            user = create_user(session=session, username=username, role=Role(role), name=name, email=email)
        except UserExists as exc:
            raise click.UsageError(str(exc)) from None
        if external_id:
            student = session.scalars(select(Student).where(Student.external_id == external_id)).first()
            if student is None:
                student = Student(external_id=external_id, name=user.name, email=email)
                session.add(student)
            elif student.user_id is not None:
                session.rollback()
                raise click.UsageError(f"student {external_id} already has an account")
            student.user_id = user.id
            session.commit()
        click.echo(f"added {role} {username} (id {user.id})" + (f", student {external_id}" if external_id else ""))


@users.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input (scripts)")
def users_passwd(username: str, password_stdin: bool) -> None:
    """Set an account's dashboard password (asked for twice, never echoed)."""
    from grader.users.passwords import PasswordRejected, set_password
    from grader.users.service import get_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with _sessions()() as session:
        user = get_user(session=session, username=username)
        if user is None:
            raise click.UsageError(f"no user {username!r}")
        if user.role.value == "service":
            raise click.UsageError("service accounts sign in with API tokens, not passwords")
        try:
            set_password(session=session, user=user, password=password)
        except PasswordRejected as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(f"password set for {username}")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("username")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="repeatable: submit, read, mark, release, roster, export (default: every scope)",
)
@click.option("--name", default="cli", show_default=True, help="what the token is for")
@click.option(
    "--view",
    type=click.Choice(["student", "staff"]),
    default=None,
    help="service accounts: 'student' (the default) reads every mark as the student concerned would "
    "see it, before release too; 'staff' reads everything, like a lecturer. Students' tokens are "
    "always 'student', GTAs' and lecturers' always 'staff'.",
)
def token_create(username: str, scopes: tuple[str, ...], name: str, view: str | None) -> None:
    """Create an API token and print it once (only its hash is kept)."""
    from grader.users.service import ALL_SCOPES, create_token, get_user

    with _sessions()() as session:
        user = get_user(session=session, username=username)
        if user is None:
            raise click.UsageError(f"no user {username!r}")
        try:
            secret, row = create_token(session=session, user=user, name=name, scopes=scopes or (ALL_SCOPES,), view=view)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(secret)
    click.echo(
        f"token {row.id} for {username} (scopes: {', '.join(row.scopes)}; view: {row.view.value}); "
        "it is shown only once.",
        err=True,
    )


@main.group()
def blobs() -> None:
    """The store of received files."""


MIN_GC_GRACE_S = 3600  # shorter could delete a blob whose row is being committed right now


def _duration(ctx, param, value: str) -> float:
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value or "")
    if match is None:
        raise click.BadParameter(f"{value!r} is not a duration like 90s, 30m, 24h or 7d")
    seconds = float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
    if seconds < MIN_GC_GRACE_S:
        raise click.BadParameter("at least 1h: a younger orphan may be an upload still being recorded")
    return seconds


@blobs.command("gc")
@click.option(
    "--older-than",
    "older_than",
    default="24h",
    show_default=True,
    callback=_duration,
    help="grace period: only blobs last stored longer ago than this (s, m, h or d)",
)
@click.option("--dry-run", is_flag=True, help="list the orphans, delete nothing")
def blobs_gc(older_than: float, dry_run: bool) -> None:
    """Delete stored files that no submission or grading run references (orphans of failed uploads)."""
    import datetime as dt

    from sqlalchemy.exc import OperationalError, ProgrammingError

    from grader.blobs import LocalBlobStore
    from grader.runs.blob_gc import collect_orphans

    store = LocalBlobStore(get_settings().blob_dir)
    try:
        with _sessions()() as session:
            report = collect_orphans(store, session, dt.timedelta(seconds=older_than), dry_run=dry_run)
    except (OperationalError, ProgrammingError) as exc:  # deleting nothing without the references
        raise click.ClickException(
            f"cannot read the gradebook at {_safe_url(get_settings().database_url)} "
            f"(migrated? `grader db upgrade`): {exc.orig}"
        ) from None
    verb = "would remove" if dry_run else "removed"
    for key in report.removed:
        click.echo(f"{verb} {key}")
    click.echo(
        f"{verb} {len(report.removed)} orphaned blobs; kept {report.referenced} referenced and "
        f"{report.young} stored within the grace period",
        err=True,
    )


def _sessions():
    from grader.db.engine import make_engine, session_factory

    return session_factory(make_engine(get_settings().database_url))


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


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


# --- CATe and LabTS (docs/cate-labts.md) ---------------------------------------------------------


@main.group()
def reference() -> None:
    """Submissions by a course system's own reference (CATe's submission id, a LabTS commit)."""


@reference.command("find")
@click.argument("coursework")
@click.option("--cate-id", default=None, help="CATe's submission id")
@click.option("--labts-commit", default=None, help="the commit SHA LabTS sent (40 or 64 hex digits)")
@click.option("--labts-repository", default=None, help="with --labts-commit: the repository's https URL")
def reference_find(
    coursework: str, cate_id: str | None, labts_commit: str | None, labts_repository: str | None
) -> None:
    """One JSON object a line per submission carrying the reference, oldest first (none: no output)."""
    import json

    from grader.courseworks.service import coursework_by_code
    from grader.roster.models import Student
    from grader.submissions.references import COMMIT, ExternalRef, ReferenceInvalid, find_by_reference, parse_reference

    try:
        cate = parse_reference(cate_submission_id=cate_id).cate_submission_id
        commit = (labts_commit or "").strip().lower() or None
        if commit is not None and not COMMIT.match(commit):
            raise ReferenceInvalid("--labts-commit must be 40 or 64 hexadecimal characters")
        if labts_repository and commit is None:
            raise ReferenceInvalid("--labts-repository needs --labts-commit")
        with _sessions()() as session:
            row = coursework_by_code(session=session, code=coursework)
            if row is None:
                raise click.UsageError(f"no coursework {coursework!r} in the gradebook")
            ref = ExternalRef(cate, labts_repository or None, commit)
            for sub in find_by_reference(session=session, coursework_id=row.id, ref=ref):
                student = session.get_one(Student, sub.student_id)
                click.echo(
                    json.dumps(
                        {
                            "submission_id": str(sub.id),
                            "student_external_id": student.external_id,
                            "received_at": sub.received_at.isoformat(),
                            "late_minutes": sub.late_minutes,
                            "cate_submission_id": sub.cate_submission_id,
                            "labts_repository": sub.labts_repository,
                            "labts_commit": sub.labts_commit,
                        }
                    )
                )
    except ReferenceInvalid as exc:
        raise click.UsageError(str(exc)) from None


if __name__ == "__main__":
    main()
