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


# -- extensions and mitigating circumstances (issue 12, part 1) -------------------------------------


@main.group()
def extensions() -> None:
    """Extensions and mitigating circumstances (docs/extensions.md)."""


def _extension_target(session, external_id: str, code: str, by: str | None):
    from grader.courseworks.service import coursework_by_code
    from grader.roster.service import student_by_external_id
    from grader.users.service import get_user

    student = student_by_external_id(session=session, external_id=external_id)
    if student is None:
        raise click.UsageError(f"no student {external_id!r} on the roster")
    cw = coursework_by_code(session=session, code=code)
    if cw is None:
        raise click.UsageError(f"no coursework {code!r} in the gradebook")
    actor = None
    if by is not None:
        actor = get_user(session=session, username=by)
        if actor is None:
            raise click.UsageError(f"no user {by!r}")
    return student, cw, actor.id if actor else None


_BY = click.option("--by", default=None, help="the lecturer's username, for the audit log")
_CW = click.option("--coursework", "-c", "code", required=True, help="coursework id, e.g. cw1")


@extensions.command("grant")
@click.argument("external_id")
@_CW
@click.option(
    "--deadline",
    required=True,
    help="'+N minutes' (or hours, days) from the coursework's deadline, a local time such as "
    "'2026-03-30 16:00', or an ISO instant with an offset",
)
@click.option("--reason", default="", help="kept for lecturers; never shown to students")
@_BY
def extensions_grant(external_id: str, code: str, deadline: str, reason: str, by: str | None) -> None:
    """Grant or change one student's extension."""
    from grader.courseworks import extensions as ext
    from grader.courseworks.extension_spec import BadDeadline, parse_deadline

    with _sessions()() as session:
        student, cw, actor = _extension_target(session, external_id, code, by)
        try:
            when = parse_deadline(deadline, coursework_deadline=cw.deadline, tz=cw.timezone)
        except BadDeadline as exc:
            raise click.UsageError(str(exc)) from None
        ext.grant(session=session, student=student, coursework=cw, deadline=when, reason=reason, actor_id=actor)
    click.echo(f"{external_id} on {code}: deadline {when.isoformat()}")


@extensions.command("revoke")
@click.argument("external_id")
@_CW
@_BY
def extensions_revoke(external_id: str, code: str, by: str | None) -> None:
    """Revoke one student's extension: the coursework's deadline applies again."""
    from grader.courseworks import extensions as ext

    with _sessions()() as session:
        student, cw, actor = _extension_target(session, external_id, code, by)
        try:
            ext.revoke(session=session, student=student, coursework=cw, actor_id=actor)
        except ext.NoExtension as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(f"{external_id} on {code}: extension revoked")


@extensions.command("waive")
@click.argument("external_id")
@_CW
@click.option("--reason", default="", help="the mitigating circumstances; never shown to students")
@click.option("--undo", is_flag=True, help="withdraw it: the late penalty applies again")
@_BY
def extensions_waive(external_id: str, code: str, reason: str, undo: bool, by: str | None) -> None:
    """Mitigating circumstances: waive (or, --undo, restore) one student's late penalty."""
    from grader.courseworks import extensions as ext

    with _sessions()() as session:
        student, cw, actor = _extension_target(session, external_id, code, by)
        if undo:
            try:
                ext.withdraw_mitigation(session=session, student=student, coursework=cw, actor_id=actor)
            except LookupError as exc:
                raise click.UsageError(str(exc)) from None
        else:
            ext.record_mitigation(session=session, student=student, coursework=cw, reason=reason, actor_id=actor)
    click.echo(f"{external_id} on {code}: late penalty {'applies again' if undo else 'waived'}")


@extensions.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@_BY
def extensions_import(csv_file, by: str | None) -> None:
    """Grant the extensions of a CSV (external_id, coursework, deadline, reason), all or none."""
    from grader.courseworks.extension_csv import import_extensions
    from grader.users.service import get_user

    text = csv_file.read()
    with _sessions()() as session:
        actor = get_user(session=session, username=by) if by else None
        if by and actor is None:
            raise click.UsageError(f"no user {by!r}")
        plan = import_extensions(session=session, text=text, actor_id=actor.id if actor else None)
    if not plan.ok:
        for problem in plan.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"the file was refused ({len(plan.problems)} bad lines); nothing was stored")
    click.echo(f"granted {len(plan.extensions)} extensions")


@extensions.command("list")
@_CW
@click.option("--json", "as_json", is_flag=True, help="one JSON object a line")
def extensions_list(code: str, as_json: bool) -> None:
    """Every extension and mitigating circumstance of a coursework (reasons included: lecturers only)."""
    from grader.courseworks import extensions as ext
    from grader.courseworks.service import coursework_by_code

    with _sessions()() as session:
        cw = coursework_by_code(session=session, code=code)
        if cw is None:
            raise click.UsageError(f"no coursework {code!r} in the gradebook")
        rows = ext.adjustments(session=session, coursework_id=cw.id)
    for r in rows:
        deadline = r.deadline.isoformat() if r.deadline else None
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "external_id": r.external_id,
                        "deadline": deadline,
                        "extension_reason": r.extension_reason,
                        "penalty_waived": r.penalty_waived,
                        "mitigation_reason": r.mitigation_reason,
                    }
                )
            )
        else:
            waived = "penalty waived" if r.penalty_waived else ""
            click.echo(f"{r.external_id}\t{deadline or '-'}\t{r.extension_reason or ''}\t{waived}")


# -- exam marks and the module mark (issue 12 part 2) ---------------------------------------------


def _module_courseworks(session):
    """(rubric, gradebook row) of every coursework whose rubric loads and the gradebook holds."""
    from sqlalchemy import select

    from grader.courseworks.models import Coursework
    from grader.courseworks.sync import load_all

    files = load_all(get_settings())
    rows = session.scalars(select(Coursework).where(Coursework.code.in_(list(files)))).all()
    return sorted(((files[r.code].rubric, r) for r in rows), key=lambda pair: pair[1].code)


@main.group()
def exam() -> None:
    """Exam marks."""


@exam.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def exam_import(file: Path) -> None:
    """Import exam marks from FILE (CSV: external_id, mark 0..100). All or nothing: any bad line
    (an id not on the roster, a duplicate, a mark outside 0..100) refuses the file, every bad line is
    listed, and nothing is stored."""
    from grader.marking.exam_marks import ExamImportRefused, import_exam_marks

    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {file}: {exc}") from None
    with _sessions()() as session:
        try:
            result = import_exam_marks(session=session, text=text, actor_id=None, source=file.name)
        except ExamImportRefused as exc:
            click.echo(f"refused {file}, nothing was stored:", err=True)
            for problem in exc.problems:
                click.echo(f"  {problem}", err=True)
            sys.exit(1)
    click.echo(
        f"imported {result.rows} exam marks from {file}: {result.created} new, {result.updated} changed, "
        f"{result.unchanged} unchanged",
        err=True,
    )


@main.group("module")
def module_marks() -> None:
    """The module mark: coursework and exam."""


@module_marks.command("export")
@click.option("--items", is_flag=True, help="the per-item file for moderation (default: the registry file)")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="write the CSV here (default: standard output)",
)
def module_export(items: bool, out: Path | None) -> None:
    """The registry file (one row per student on the roster, the withdrawn included), or with
    --items the per-item marks: the same files as GET /api/v1/module/registry.csv and items.csv."""
    from grader.marking.cohort import cohort_marks
    from grader.marking.module_export import items_csv, registry_csv

    with _sessions()() as session:
        cohort = cohort_marks(session=session, courseworks=_module_courseworks(session))
    if cohort.problem:
        click.echo(f"warning: {cohort.problem}", err=True)
    data = (items_csv(cohort) if items else registry_csv(cohort)).encode()
    if out is None:
        click.echo(data, nl=False)
    else:
        try:
            out.write_bytes(data)
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc.strerror}") from None
        click.echo(f"wrote {out}", err=True)


# --- regrade previews (issue 12 part 6): a fixed hidden suite, previewed before it is applied -------


@main.group("regrade-preview")
def regrade_preview() -> None:
    """Regrade a coursework on the hidden suite on disk now, staged: nothing anyone sees changes until
    a lecturer applies it. The same steps as the API and the lecturer's page (docs/suite-fixes.md)."""


def _preview_context(coursework: str, lecturer: str | None):
    """(files, sessions, coursework row, the lecturer's user id or None), or a usage error."""
    from grader.courseworks.service import coursework_by_code
    from grader.users.models import Role
    from grader.users.service import get_user

    files = _coursework(coursework)
    sessions = _sessions()
    with sessions() as session:
        row = coursework_by_code(session=session, code=coursework)
        if row is None:
            raise click.UsageError(f"coursework {coursework!r} is not in the gradebook yet; start the service first")
        user_id = None
        if lecturer is not None:
            user = get_user(session=session, username=lecturer)
            if user is None or user.role is not Role.lecturer:
                raise click.UsageError(f"{lecturer!r} is not a lecturer's account")
            user_id = user.id
    return files, sessions, row.id, user_id


def _print_report(report, code: str) -> None:
    p = report.preview
    click.echo(
        f"preview {p.id} of {code}: {p.status.value}, hidden suite {p.hidden_digest[:12]}, rubric {p.rubric_digest[:12]}"
    )
    if report.stale:
        click.echo("STALE: the suite or rubric on disk changed since it was made; it cannot be applied")
    click.echo("  " + ", ".join(f"{n} {state}" for state, n in sorted(report.counts.items())) or "  no runs")
    for row in report.rows:
        if row.diff is not None and row.diff.changed:
            items = ", ".join(f"{i.id} {i.old:g}->{i.new:g}" for i in row.diff.items)
            click.echo(
                f"  {row.student.external_id}: {row.diff.old:g} -> {row.diff.new:g} ({row.diff.delta:+g}) {items}"
            )
        elif row.diff is None:
            click.echo(f"  {row.student.external_id}: run {row.run_status}")


_LECTURER = click.option("--as", "lecturer", required=True, help="the lecturer's username (recorded in the audit log)")


@regrade_preview.command("start")
@click.argument("coursework")
@_LECTURER
def regrade_preview_start(coursework: str, lecturer: str) -> None:
    """Queue a staged run for every counting submission on the suite on disk now."""
    from grader.courseworks.models import Coursework
    from grader.submissions import regrade_preview as rp
    from workers.dispatch import CeleryRunQueue

    files, sessions, cw_id, user_id = _preview_context(coursework, lecturer)
    assert user_id is not None  # --as is required
    with sessions() as session:
        try:
            preview = rp.start_preview(
                session=session,
                coursework=session.get_one(Coursework, cw_id),
                rubric=files.rubric,
                digests=rp.suite_digests(files),
                lecturer_id=user_id,
                queue=files.rubric.resources.queue,
                run_queue=CeleryRunQueue(get_settings()),
            )
        except rp.PreviewError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"preview {preview.id} started on hidden suite {preview.hidden_digest[:12]}")


@regrade_preview.command("show")
@click.argument("coursework")
@click.argument("preview_id", type=int, required=False)
def regrade_preview_show(coursework: str, preview_id: int | None) -> None:
    """Who would change and by how much (the latest preview unless PREVIEW_ID is given)."""
    from grader.courseworks.models import Coursework
    from grader.submissions import regrade_preview as rp

    files, sessions, cw_id, _ = _preview_context(coursework, None)
    with sessions() as session:
        row = session.get_one(Coursework, cw_id)
        try:
            if preview_id is None:
                previews = rp.list_previews(session=session, coursework=row)
                if not previews:
                    raise rp.PreviewNotFound(f"{coursework} has no regrade preview yet")
                preview = previews[0]
            else:
                preview = rp.get_preview(session=session, coursework=row, preview_id=preview_id)
        except rp.PreviewError as exc:
            raise click.ClickException(str(exc)) from None
        report = rp.preview_report(
            session=session, preview=preview, rubric=files.rubric, current=rp.suite_digests(files)
        )
        _print_report(report, coursework)


@regrade_preview.command("apply")
@click.argument("coursework")
@click.argument("preview_id", type=int)
@click.option("--changed", type=int, required=True, help="how many students' marks change, as `show` said")
@_LECTURER
def regrade_preview_apply(coursework: str, preview_id: int, changed: int, lecturer: str) -> None:
    """Make the preview's marks current (the old runs stay in the history)."""
    from grader.courseworks.models import Coursework
    from grader.submissions import regrade_preview as rp

    files, sessions, cw_id, user_id = _preview_context(coursework, lecturer)
    assert user_id is not None  # --as is required
    with sessions() as session:
        try:
            preview = rp.get_preview(
                session=session, coursework=session.get_one(Coursework, cw_id), preview_id=preview_id
            )
            current = rp.suite_digests(files)
            seen = rp.preview_report(session=session, preview=preview, rubric=files.rubric, current=current)
            if len(seen.changed) != changed:
                raise rp.PreviewConflict(
                    f"the preview now changes {len(seen.changed)} students' marks, not {changed}: show it again"
                )
            report = rp.apply_preview(
                session=session,
                preview=preview,
                rubric=files.rubric,
                current=current,
                lecturer_id=user_id,
                public_url=get_settings().public_url,
            )
        except rp.PreviewError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"preview {preview_id} applied: {len(report.changed)} students' marks changed")


@regrade_preview.command("discard")
@click.argument("coursework")
@click.argument("preview_id", type=int)
@_LECTURER
def regrade_preview_discard(coursework: str, preview_id: int, lecturer: str) -> None:
    """Drop a pending preview: nothing changes for anyone."""
    from grader.courseworks.models import Coursework
    from grader.submissions import regrade_preview as rp

    files, sessions, cw_id, user_id = _preview_context(coursework, lecturer)
    assert user_id is not None  # --as is required
    with sessions() as session:
        try:
            preview = rp.get_preview(
                session=session, coursework=session.get_one(Coursework, cw_id), preview_id=preview_id
            )
            rp.discard_preview(session=session, preview=preview, lecturer_id=user_id)
        except rp.PreviewError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"preview {preview_id} discarded")


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
