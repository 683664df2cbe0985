"""``grader reference find``: submissions by CATe's or LabTS's own reference (docs/cate-labts.md)."""

from __future__ import annotations

import click

from grader.cli.app import gradebook_sessions, main


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
        with gradebook_sessions()() as session:
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
