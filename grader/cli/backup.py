"""``grader backup``, ``grader restore`` and ``grader erase`` (docs/backup.md)."""

from __future__ import annotations

from pathlib import Path

import click

from grader.cli.app import gradebook_sessions, main, safe_url
from grader.settings import get_settings


@main.command("backup")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
def backup(out: Path) -> None:
    """Write one consistent snapshot of the gradebook and the blobs it references into OUT (a new folder)."""
    from grader.backup import SnapshotError, take_snapshot
    from grader.blobs import LocalBlobStore

    settings = get_settings()
    try:
        manifest = take_snapshot(settings.database_url, LocalBlobStore(settings.blob_dir), out)
    except SnapshotError as exc:
        raise click.ClickException(str(exc)) from None
    size = sum(manifest.blobs.values())
    click.echo(
        f"wrote {out}: {manifest.backend} gradebook at revision {manifest.schema_revision}, "
        f"{sum(manifest.tables.values())} rows, {len(manifest.blobs)} blobs ({size} bytes), taken {manifest.created_at}"
    )


@main.command("restore")
@click.argument("snapshot", type=click.Path(exists=True, file_okay=False, path_type=Path))
def restore(snapshot: Path) -> None:
    """Rebuild the gradebook and blob store of the settings from SNAPSHOT. Both must be empty
    (a fresh database, a fresh blob directory); every blob's hash is checked first."""
    from grader.backup import SnapshotError, restore_snapshot
    from grader.blobs import LocalBlobStore

    settings = get_settings()
    try:
        manifest = restore_snapshot(snapshot, settings.database_url, LocalBlobStore(settings.blob_dir))
    except SnapshotError as exc:
        raise click.ClickException(str(exc)) from None
    from grader.db.migrate import head_revision

    click.echo(
        f"restored {snapshot} (taken {manifest.created_at}, revision {manifest.schema_revision}) into "
        f"{safe_url(settings.database_url)} and {settings.blob_dir}: {sum(manifest.tables.values())} rows, "
        f"{len(manifest.blobs)} blobs"
    )
    if manifest.schema_revision != head_revision():
        click.echo(f"the snapshot's schema is older than this version's ({head_revision()}): run `grader db upgrade`")


@main.command("erase")
@click.argument("student", required=False)
@click.option("--reason", default="", help="why (the student's request, the retention period); kept in the audit log")
@click.option("--by", "by", default=None, help="the lecturer's username (required unless --expired)")
@click.option("--expired", is_flag=True, help="erase every student whose retention period has run out")
@click.option("--dry-run", is_flag=True, help="with --expired: list them, erase nothing")
def erase(student: str | None, reason: str, by: str | None, expired: bool, dry_run: bool) -> None:
    """Erase STUDENT's data (by external id): submissions, runs, artifacts, marks and their history,
    extensions, tokens and account. Allowed once they are withdrawn (on request) or their retention
    period has run out. Blobs other rows still use are kept."""
    from sqlalchemy import select

    from grader.blobs import LocalBlobStore
    from grader.db.clock import db_now
    from grader.erasure import retention
    from grader.erasure.service import ErasureRefused, UnknownStudent, erase_student
    from grader.users.models import Role, User

    if expired == (student is not None):
        raise click.UsageError("name one STUDENT, or give --expired")
    if dry_run and not expired:
        raise click.UsageError("--dry-run goes with --expired")
    if not expired and not by:
        raise click.UsageError("--by LECTURER: who erases (their username), for the audit log")
    if not expired and not reason.strip():
        raise click.UsageError("--reason: why this student's data is erased")
    settings = get_settings()
    policy = retention.policy(settings.retention_days, settings.module_end)
    store = LocalBlobStore(settings.blob_dir)
    with gradebook_sessions()() as session:
        actor_id = None
        if by:
            lecturer = session.scalars(select(User).where(User.username == by)).one_or_none()
            if lecturer is None or lecturer.role != Role.lecturer or not lecturer.active:
                raise click.UsageError(f"--by {by}: no active lecturer of that name")
            actor_id = lecturer.id
        now = db_now(session)
        if expired:
            targets = [s.external_id for s in retention.expired_students(session, policy, now)]
            session.rollback()
            if dry_run:
                for external_id in targets:
                    click.echo(external_id)
                click.echo(f"would erase {len(targets)} students past the retention period", err=True)
                return
            reason = reason.strip() or f"retention period of {settings.retention_days} days ended"
        else:
            targets = [student or ""]
        for external_id in targets:
            try:
                plan = erase_student(
                    session=session,
                    store=store,
                    external_id=external_id,
                    reason=reason,
                    actor_id=actor_id,
                    policy=policy,
                    now=now,
                )
            except UnknownStudent as exc:
                raise click.ClickException(f"{exc}") from None
            except ErasureRefused as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(
                f"erased {external_id} ({plan.grounds}): {sum(plan.rows.values())} rows, "
                f"{len(plan.blobs_removed)} blobs removed, {plan.blobs_kept} shared blobs kept "
                f"(audit event {plan.audit_event_id})"
            )
        if expired:
            click.echo(f"erased {len(targets)} students past the retention period", err=True)
