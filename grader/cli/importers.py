"""``grader import nbgrader|otter``: turn another autograder's assignment into a coursework folder."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader.cli.app import main


@main.group("import")
def import_group() -> None:
    """Import an assignment from nbgrader or Otter-Grader (docs/importing.md)."""


def _run(
    tool: str,
    source: Path,
    coursework: str,
    out: Path | None,
    check: bool,
    weight: float,
    title: str | None,
    cell_timeout: float | None,
) -> None:
    from grader.importers.convert import convert
    from grader.importers.model import ImportRefused
    from grader.importers.writer import TargetExists, write_folder
    from grader.settings import get_settings

    settings = get_settings()
    out_dir = out if out is not None else settings.rubrics_dir
    target = out_dir / coursework
    try:
        files = convert(tool, source, coursework, weight, title, cell_timeout)  # type: ignore[arg-type]
        write_folder(files, target)
    except ImportRefused as exc:
        click.echo(f"cannot import {source} fully; nothing written:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    except TargetExists as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(str(target))
    if not check:
        return
    from grader.rubrics.check import check_rubric
    from grader.rubrics.loader import RubricError, load_coursework
    from workers.judge.launcher import SubprocessJudge

    try:  # the folder as written, hidden suite included, whatever GRADER_HIDDEN_ROOT says
        cw = load_coursework(coursework, settings.model_copy(update={"rubrics_dir": out_dir, "hidden_root": None}))
    except RubricError as exc:
        click.echo(f"FAIL  {exc}")
        sys.exit(1)
    ok = True
    for line, passed in check_rubric(cw, settings, judge=SubprocessJudge()):
        click.echo(("ok    " if passed else "FAIL  ") + line)
        ok &= passed
    sys.exit(0 if ok else 1)


def _options(f):  # type: ignore[no-untyped-def]
    f = click.option(
        "--cell-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="seconds one notebook cell may run (default: nbgrader's 30 for nbgrader, the service's for Otter)",
    )(f)
    f = click.option("--title", default=None, help="the coursework's title (default: from the file name)")(f)
    f = click.option(
        "--weight",
        type=click.FloatRange(0, 1),
        default=1.0,
        show_default=True,
        help="share of the coursework mark; 0 = unassessed (only for a source with no manual items)",
    )(f)
    f = click.option(
        "--check/--no-check",
        default=True,
        show_default=True,
        help="run `grader rubric check` on the folder (the source's solution must earn every auto point)",
    )(f)
    f = click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="folder to write ID/ into (default: the configured rubrics dir, GRADER_RUBRICS_DIR)",
    )(f)
    f = click.option("--coursework", "-c", required=True, help="the new coursework's id ([a-z0-9_-]+)")(f)
    return click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))(f)


@import_group.command("nbgrader")
@_options
def import_nbgrader(
    source: Path,
    coursework: str,
    out: Path | None,
    check: bool,
    weight: float,
    title: str | None,
    cell_timeout: float | None,
) -> None:
    """Import an nbgrader SOURCE notebook (the instructor's version, solutions and hidden tests in it)."""
    _run("nbgrader", source, coursework, out, check, weight, title, cell_timeout)


@import_group.command("otter")
@_options
def import_otter(
    source: Path,
    coursework: str,
    out: Path | None,
    check: bool,
    weight: float,
    title: str | None,
    cell_timeout: float | None,
) -> None:
    """Import an Otter-Grader MASTER notebook (the one `otter assign` reads)."""
    _run("otter", source, coursework, out, check, weight, title, cell_timeout)
