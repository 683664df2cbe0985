"""``grader roster``: import the roster from a CSV, list it, withdraw and reinstate students."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from grader.cli.app import gradebook_sessions, main

_BY = click.option("--by", default=None, help="the lecturer's username, for the audit log")


def _actor(session, by: str | None) -> int | None:
    from grader.users.service import get_user

    if by is None:
        return None
    user = get_user(session=session, username=by)
    if user is None:
        raise click.UsageError(f"no user {by!r}")
    return user.id


@main.group()
def roster() -> None:
    """The students on the module (docs/module-marks.md: withdrawn students)."""


@roster.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_BY
def roster_import(file: Path, by: str | None) -> None:
    """Add students from a CSV (external_id,name[,email]) or update their name and email; nobody is
    removed and a withdrawn student stays withdrawn. A file with a bad line stores nothing."""
    from grader.roster.roster_csv import RosterCsvRefused, parse_roster_csv
    from grader.roster.service import import_students

    try:
        entries = parse_roster_csv(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise click.UsageError(f"{file} is not UTF-8 text") from None
    except RosterCsvRefused as exc:
        click.echo(f"refused {file}, nothing was stored:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    with gradebook_sessions()() as session:
        result = import_students(session=session, entries=entries, actor_id=_actor(session, by))
    click.echo(f"imported {file}: {result.created} new, {result.updated} changed, {result.unchanged} unchanged")
    if result.still_withdrawn:
        click.echo(f"still withdrawn (reinstate them to enrol them again): {', '.join(result.still_withdrawn)}")


@roster.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per student")
def roster_list(as_json: bool) -> None:
    """Every student, the withdrawn included, in roster order."""
    from grader.roster.service import all_students

    with gradebook_sessions()() as session:
        for s in all_students(session=session):
            withdrawn = s.withdrawn_at.isoformat() if s.withdrawn_at else None
            if as_json:
                row = {"external_id": s.external_id, "name": s.name, "email": s.email, "withdrawn_at": withdrawn}
                click.echo(json.dumps(row))
            else:
                click.echo(
                    f"{s.external_id}\t{s.name}\t{s.email or '-'}\t{'withdrawn ' + withdrawn if withdrawn else 'enrolled'}"
                )


@roster.command("withdraw")
@click.argument("external_id")
@click.option("--on", "on", default=None, help="the date (2026-03-02) or instant with an offset; default now")
@click.option("--reason", default="", help="kept in the audit log")
@_BY
def roster_withdraw(external_id: str, on: str | None, reason: str, by: str | None) -> None:
    """Withdraw a student: they leave the overview and the marks, and stay in the registry file."""
    from grader.db.clock import db_now
    from grader.roster.withdrawal import BadWithdrawalDate, UnknownStudent, withdraw, withdrawal_instant

    with gradebook_sessions()() as session:
        try:
            when = withdrawal_instant(on, now=db_now(session))
            change = withdraw(
                session=session, external_id=external_id, on=when, reason=reason, actor_id=_actor(session, by)
            )
        except (UnknownStudent, BadWithdrawalDate) as exc:
            raise click.UsageError(str(exc)) from None
        at = change.student.withdrawn_at.isoformat() if change.student.withdrawn_at else "-"
    click.echo(f"{external_id}: withdrawn on {at}" + ("" if change.changed else " (already; nothing changed)"))


@roster.command("reinstate")
@click.argument("external_id")
@_BY
def roster_reinstate(external_id: str, by: str | None) -> None:
    """Put a student withdrawn by mistake back on the roster."""
    from grader.roster.withdrawal import UnknownStudent, reinstate

    with gradebook_sessions()() as session:
        try:
            change = reinstate(session=session, external_id=external_id, actor_id=_actor(session, by))
        except UnknownStudent as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(f"{external_id}: enrolled" + ("" if change.changed else " (was not withdrawn; nothing changed)"))
