"""``grader extensions``: extensions and mitigating circumstances (issue 12, part 1)."""

from __future__ import annotations

import json

import click

from grader.cli.app import gradebook_sessions, main


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

    with gradebook_sessions()() as session:
        student, cw, actor = _extension_target(session, external_id, code, by)
        try:
            when = parse_deadline(deadline, coursework_deadline=cw.deadline, tz=cw.timezone)
        except BadDeadline as exc:
            raise click.UsageError(str(exc)) from None
        ext.grant(session=session, student=student, coursework=cw, deadline=when, reason=reason, actor_id=actor)
    click.echo(f"{external_id} on {code}: deadline {when.isoformat()}")


@extensions.command("cohort")
@_CW
@click.option("--deadline", required=True, help="the cohort's new deadline, as for grant ('+2 hours' ...)")
@click.option("--reason", required=True, help="why the whole cohort's deadline moved (kept in the audit log)")
@_BY
def extensions_cohort(code: str, deadline: str, reason: str, by: str | None) -> None:
    """Deadline night: extend the deadline for every student on the roster, in one action.

    Every student gets the new deadline as an extension; an extension already as long or longer
    stays. Late minutes are recomputed at once. Running it again with the same deadline changes nothing."""
    from grader.courseworks.cohort_extension import extend_cohort
    from grader.courseworks.extension_spec import parse_deadline
    from grader.courseworks.service import coursework_by_code
    from grader.users.service import get_user

    with gradebook_sessions()() as session:
        cw = coursework_by_code(session=session, code=code)
        if cw is None:
            raise click.UsageError(f"no coursework {code!r} in the gradebook")
        actor = get_user(session=session, username=by) if by else None
        if by and actor is None:
            raise click.UsageError(f"no user {by!r}")
        try:
            when = parse_deadline(deadline, coursework_deadline=cw.deadline, tz=cw.timezone)
            done = extend_cohort(
                session=session, coursework=cw, deadline=when, reason=reason, actor_id=actor.id if actor else None
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(
        f"{code}: deadline {done.deadline.isoformat()} for the cohort; {done.granted} extended, "
        f"{done.kept} kept a longer extension; {done.late_submissions} submissions still late"
    )


@extensions.command("revoke")
@click.argument("external_id")
@_CW
@_BY
def extensions_revoke(external_id: str, code: str, by: str | None) -> None:
    """Revoke one student's extension: the coursework's deadline applies again."""
    from grader.courseworks import extensions as ext

    with gradebook_sessions()() as session:
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

    with gradebook_sessions()() as session:
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
    with gradebook_sessions()() as session:
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

    with gradebook_sessions()() as session:
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
