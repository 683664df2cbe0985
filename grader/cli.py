"""The ``grader`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from grader.grading.pipeline import grade_submission
from grader.grading.report import render_table
from grader.rubrics.check import check_rubric
from grader.rubrics.loader import RubricError, load_coursework
from grader.settings import get_settings


@click.group()
def main() -> None:
    """Coursework autograder."""


def _coursework(name: str):
    try:
        return load_coursework(name, get_settings())
    except RubricError as exc:
        raise click.UsageError(str(exc)) from None


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--coursework", "-c", required=True, help="coursework id, e.g. cw1")
@click.option("--backend", type=click.Choice(["bwrap", "docker"]), default=None, help="sandbox backend")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--seed", type=int, default=None, help="fix the judge's random draws (reproduce a run)")
def grade(path: Path, coursework: str, backend: str | None, as_json: bool, seed: int | None) -> None:
    """Grade one submission (a .ipynb, or a .zip with the notebook and model files)."""
    cw = _coursework(coursework)
    report = grade_submission(path, cw, get_settings(), backend=backend, seed=seed)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(render_table(report))
    sys.exit(0 if report.status == "graded" else 1)


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
    for line, passed in check_rubric(cw, get_settings(), backend=backend):
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
    upgrade(url, revision)
    click.echo(f"gradebook at {revision}: {_safe_url(url)}")


@main.command()
@click.option("--host", default=None, help="default: settings.host")
@click.option("--port", type=int, default=None, help="default: settings.port")
def serve(host: str | None, port: int | None) -> None:
    """Run the REST API (uvicorn). The gradebook must be migrated first: `grader db upgrade`."""
    import uvicorn

    from grader.api.app import create_app

    settings = get_settings()
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port)


@main.group()
def users() -> None:
    """Accounts."""


@users.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["student", "gta", "lecturer", "service"]))
@click.option("--name", default=None, help="display name (default: the username)")
@click.option("--email", default=None)
@click.option("--external-id", default=None,
              help="students: the course system's id; links (or adds) their roster entry")
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


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("username")
@click.option("--scope", "scopes", multiple=True,
              help="repeatable: submit, read, mark, release, roster, export (default: every scope)")
@click.option("--name", default="cli", show_default=True, help="what the token is for")
def token_create(username: str, scopes: tuple[str, ...], name: str) -> None:
    """Create an API token and print it once (only its hash is kept)."""
    from grader.users.service import ALL_SCOPES, create_token, get_user

    with _sessions()() as session:
        user = get_user(session=session, username=username)
        if user is None:
            raise click.UsageError(f"no user {username!r}")
        try:
            secret, row = create_token(session=session, user=user, name=name, scopes=scopes or (ALL_SCOPES,))
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(secret)
    click.echo(f"token {row.id} for {username} (scopes: {', '.join(row.scopes)}); it is shown only once.", err=True)


def _sessions():
    from grader.db.engine import make_engine, session_factory

    return session_factory(make_engine(get_settings().database_url))


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.command()
@click.option("--queues", "-Q", default=None,
              help="broker queues to serve, comma-separated (default: precheck + GRADER_WORKER_QUEUES)")
@click.option("--concurrency", "-c", type=int, default=1, show_default=True, help="jobs graded at once")
@click.option("--sweep/--no-sweep", default=True, show_default=True,
              help="also run the sweeper (expired leases, lost wake-ups) in this worker")
@click.option("--loglevel", default="INFO", show_default=True)
def worker(queues: str | None, concurrency: int, sweep: bool, loglevel: str) -> None:
    """Start a Celery worker that grades queued runs (SIGTERM: finish the job in hand, then stop)."""
    from workers.worker import run_worker  # Celery only loads for this command

    settings = get_settings()
    names = [q.strip() for q in queues.split(",") if q.strip()] if queues else \
        ["precheck", *settings.worker_queues]
    sys.exit(run_worker(settings, names, concurrency=concurrency, sweep=sweep, loglevel=loglevel))


if __name__ == "__main__":
    main()
