"""Exam marks and the module mark (issue 12, part 2): ``grader exam import`` and ``grader module export``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader.cli.app import gradebook_sessions, main
from grader.settings import get_settings


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
    with gradebook_sessions()() as session:
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

    with gradebook_sessions()() as session:
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
