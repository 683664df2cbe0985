"""``grader similarity``: the ranked pairs of a coursework, and the archive of earlier years."""

from __future__ import annotations

import json
from pathlib import Path

import click

from grader.cli.app import coursework_files, gradebook_sessions, main
from grader.settings import get_settings


@main.group("similarity")
def similarity() -> None:
    """Code shared between students' notebooks beyond the skeleton (docs/similarity.md)."""


def _coursework_row(session, code: str):
    from grader.courseworks.service import coursework_by_code

    row = coursework_by_code(session=session, code=code)
    if row is None:
        raise click.UsageError(f"coursework {code!r} is not in the gradebook yet; start the service first")
    return row


@similarity.command("report")
@click.argument("coursework")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="how many pairs, best first")
@click.option("--no-archive", is_flag=True, help="leave the archive of earlier years out")
@click.option("--json", "as_json", is_flag=True, help="one JSON object: the pairs, best first")
def similarity_report(coursework: str, limit: int, no_archive: bool, as_json: bool) -> None:
    """The pairs of COURSEWORK's counting submissions (and earlier years') that share code, best first."""
    from grader.blobs import LocalBlobStore
    from grader.marking.anonymity import identity_view
    from grader.similarity.service import cohort_report
    from grader.similarity.shown import shown_notebooks
    from grader.users.models import Role

    settings = get_settings()
    files = coursework_files(coursework)
    with gradebook_sessions()() as session:
        row = _coursework_row(session, coursework)
        found = cohort_report(
            session=session,
            coursework=row,
            files=files,
            blobs=LocalBlobStore(settings.blob_dir),
            max_bytes=settings.execution.max_notebook_mb * 2**20,
            with_archive=not no_archive,
        )
        listed = found.pairs[:limit]
        # The command line is the lecturer's (it holds the gradebook's keys): names, as their pages show.
        view = identity_view(session=session, coursework_id=row.id, reader_role=Role.lecturer)
        shown = shown_notebooks([found.entries[k] for k in {*(p.a for p in listed), *(p.b for p in listed)}], view)

        def who(key: str) -> str:
            n = shown[key]
            if n.student is not None and n.student.external_id:
                return f"{n.student.external_id} ({n.label})"
            return n.label

        if as_json:
            pairs = [
                {
                    "rank": i,
                    "score": round(p.score, 4),
                    "shared": p.shared,
                    "a": p.a,
                    "b": p.b,
                    "a_label": who(p.a),
                    "b_label": who(p.b),
                }
                for i, p in enumerate(listed, start=1)
            ]
            body = {"coursework": coursework, "compared": found.compared, "archived": found.archived}
            click.echo(
                json.dumps({**body, "pairs_found": len(found.pairs), "pairs": pairs, "unreadable": found.unreadable})
            )
            return
        click.echo(
            f"{coursework}: {found.compared} notebooks compared, {found.archived} from earlier years; "
            f"{len(found.pairs)} pairs share code beyond the skeleton"
        )
        for i, p in enumerate(listed, start=1):
            click.echo(f"{i:4d}. {p.score:6.1%}  {p.shared:4d} shared  {who(p.a)}  <->  {who(p.b)}")
        for key, why in found.unreadable.items():
            click.echo(f"not compared: {key}: {why}", err=True)


@similarity.group("archive")
def archive() -> None:
    """Earlier years' notebooks, compared with this year's."""


@archive.command("add")
@click.argument("year", type=click.IntRange(1990, 2200))
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--coursework", "code", required=True, help="the coursework they were submitted for")
def archive_add(year: int, folder: Path, code: str) -> None:
    """Every notebook under FOLDER (.ipynb, or a zip holding the rubric's notebook) into the
    archive of YEAR: only their code cells are kept. Adding the same file twice adds nothing."""
    from grader.similarity.service import add_archive

    settings = get_settings()
    files = coursework_files(code)
    with gradebook_sessions()() as session:
        row = _coursework_row(session, code)
        result = add_archive(
            session=session,
            coursework=row,
            year=year,
            folder=folder,
            notebook_name=files.rubric.submission.notebook,
            max_bytes=settings.execution.max_notebook_mb * 2**20,
        )
    for label, why in result.refused.items():
        click.echo(f"refused {label}: {why}", err=True)
    click.echo(
        f"{code} {year}: added {len(result.added)}, already there {len(result.already)}, refused {len(result.refused)}"
    )
    if not result.added and not result.already:
        raise click.ClickException(f"no notebook under {folder} could be read")
