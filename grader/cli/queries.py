"""``grader queries``: the query window of a coursework, and its queries (docs/queries.md)."""

from __future__ import annotations

import json

import click

from grader.cli.app import gradebook_sessions, main

_CW = click.option("--coursework", "-c", "code", required=True, help="coursework id, e.g. cw1")


def _coursework(session, code: str):
    from grader.courseworks.service import coursework_by_code

    cw = coursework_by_code(session=session, code=code)
    if cw is None:
        raise click.UsageError(f"no coursework {code!r} in the gradebook")
    return cw


@main.group()
def queries() -> None:
    """Queries after release: the window students may raise them in, and the queries themselves."""


@queries.command("window")
@_CW
@click.option("--days", type=click.IntRange(0, 365), default=None, help="days after release queries are taken")
@click.option("--close", is_flag=True, help="take no queries")
@click.option("--by", default=None, help="the lecturer's username, for the audit log")
def queries_window(code: str, days: int | None, close: bool, by: str | None) -> None:
    """Set (--days N) or close (--close) a coursework's query window; with neither, show it."""
    from grader.marking.queries import set_window, window_days
    from grader.users.service import get_user

    if days is not None and close:
        raise click.UsageError("give --days or --close, not both")
    with gradebook_sessions()() as session:
        cw = _coursework(session, code)
        if days is not None or close:
            actor = get_user(session=session, username=by) if by else None
            if by and actor is None:
                raise click.UsageError(f"no user {by!r}")
            set_window(session=session, coursework=cw, days=days, by_user_id=actor.id if actor else None)
        now = window_days(session=session, coursework_id=cw.id)
    click.echo(f"{code}: " + ("no queries" if now is None else f"queries for {now} days after release"))


@queries.command("list")
@_CW
@click.option("--all", "everything", is_flag=True, help="answered ones too (default: open ones)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object a line")
def queries_list(code: str, everything: bool, as_json: bool) -> None:
    """A coursework's queries, oldest first (students named: lecturers only)."""
    from sqlalchemy import select

    from grader.marking.query_models import MarkQuery, QueryStatus
    from grader.roster.models import Student

    with gradebook_sessions()() as session:
        cw = _coursework(session, code)
        query = (
            select(MarkQuery, Student.external_id)
            .join(Student, Student.id == MarkQuery.student_id)
            .where(MarkQuery.coursework_id == cw.id)
        )
        if not everything:
            query = query.where(MarkQuery.status == QueryStatus.open)
        rows = session.execute(query.order_by(MarkQuery.id)).all()
        out = [
            {
                "id": q.id,
                "external_id": ext,
                "item_id": q.item_id,
                "status": QueryStatus(q.status).value,
                "raised_at": q.raised_at.isoformat(),
                "assigned_to_id": q.assigned_to_id,
                "message": q.message,
                "answer": q.answer,
                "old_score": q.old_score,
                "new_score": q.new_score,
            }
            for q, ext in rows
        ]
    for row in out:
        if as_json:
            click.echo(json.dumps(row))
        else:
            click.echo(f"{row['id']}\t{row['external_id']}\t{row['item_id']}\t{row['status']}\t{row['message'][:60]}")
