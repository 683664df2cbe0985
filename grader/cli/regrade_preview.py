"""``grader regrade-preview`` (issue 12, part 6): a fixed hidden suite, previewed before it is applied."""

from __future__ import annotations

import click

from grader.cli.app import coursework_files, gradebook_sessions, main
from grader.settings import get_settings


@main.group("regrade-preview")
def regrade_preview() -> None:
    """Regrade a coursework on the hidden suite on disk now, staged: nothing anyone sees changes until
    a lecturer applies it. The same steps as the API and the lecturer's page (docs/suite-fixes.md)."""


def _preview_context(coursework: str, lecturer: str | None):
    """(files, sessions, coursework row, the lecturer's user id or None), or a usage error."""
    from grader.courseworks.service import coursework_by_code
    from grader.users.models import Role
    from grader.users.service import get_user

    files = coursework_files(coursework)
    sessions = gradebook_sessions()
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


# --by, as the extensions commands name the acting lecturer; --as, its first name, still works.
_LECTURER = click.option("--by", "--as", "lecturer", required=True, help="the lecturer's username, for the audit log")


@regrade_preview.command("start")
@click.argument("coursework")
@_LECTURER
def regrade_preview_start(coursework: str, lecturer: str) -> None:
    """Queue a staged run for every counting submission on the suite on disk now."""
    from grader.courseworks.models import Coursework
    from grader.submissions import regrade_preview as rp
    from workers.dispatch import CeleryRunQueue

    files, sessions, cw_id, user_id = _preview_context(coursework, lecturer)
    assert user_id is not None  # --by is required
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
    assert user_id is not None  # --by is required
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
    assert user_id is not None  # --by is required
    with sessions() as session:
        try:
            preview = rp.get_preview(
                session=session, coursework=session.get_one(Coursework, cw_id), preview_id=preview_id
            )
            rp.discard_preview(session=session, preview=preview, lecturer_id=user_id)
        except rp.PreviewError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"preview {preview_id} discarded")
