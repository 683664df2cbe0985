"""The gradebook's data: ``grader export`` (a coursework's marks as CSV) and ``grader blobs gc``."""

from __future__ import annotations

from pathlib import Path

import click

from grader.cli.app import coursework_files, gradebook_sessions, main, safe_url
from grader.settings import get_settings


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

    files = coursework_files(coursework)
    try:
        with gradebook_sessions()() as session:
            row = coursework_by_code(session=session, code=coursework)
            if row is None:
                raise click.UsageError(
                    f"coursework {coursework!r} is not in the gradebook yet; "
                    "it is added when the service starts (`grader up` or `grader serve`)"
                )
            data = coursework_csv(session=session, rubric=files.rubric, coursework=row).encode()
    except (OperationalError, ProgrammingError) as exc:
        raise click.ClickException(
            f"cannot read the gradebook at {safe_url(get_settings().database_url)} "
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
        with gradebook_sessions()() as session:
            report = collect_orphans(store, session, dt.timedelta(seconds=older_than), dry_run=dry_run)
    except (OperationalError, ProgrammingError) as exc:  # deleting nothing without the references
        raise click.ClickException(
            f"cannot read the gradebook at {safe_url(get_settings().database_url)} "
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
