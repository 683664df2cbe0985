"""The ``grader`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from grader.grading.pipeline import grade_submission
from grader.grading.report import render_table
from grader.rubrics.check import check_rubric
from grader.rubrics.loader import RubricError, load_coursework
from grader.settings import get_settings


@click.group()
def main() -> None:
    """Coursework autograder."""


def _coursework(name: str):
    try:
        return load_coursework(name, get_settings())
    except RubricError as exc:
        raise click.UsageError(str(exc)) from None


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--coursework", "-c", required=True, help="coursework id, e.g. cw1")
@click.option("--backend", type=click.Choice(["bwrap", "docker"]), default=None, help="sandbox backend")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--seed", type=int, default=None, help="fix the judge's random draws (reproduce a run)")
def grade(path: Path, coursework: str, backend: str | None, as_json: bool, seed: int | None) -> None:
    """Grade one submission (a .ipynb, or a .zip with the notebook and model files)."""
    cw = _coursework(coursework)
    report = grade_submission(path, cw, get_settings(), backend=backend, seed=seed)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(render_table(report))
    sys.exit(0 if report.status == "graded" else 1)


@main.group()
def rubric() -> None:
    """Rubric tools."""


@rubric.command("check")
@click.argument("coursework")
@click.option("--backend", type=click.Choice(["bwrap", "docker"]), default=None)
def rubric_check(coursework: str, backend: str | None) -> None:
    """Prove a rubric sound: the reference earns every auto point, the skeleton (nearly) none."""
    cw = _coursework(coursework)
    ok = True
    for line, passed in check_rubric(cw, get_settings(), backend=backend):
        click.echo(("ok    " if passed else "FAIL  ") + line)
        ok &= passed
    sys.exit(0 if ok else 1)


@main.group()
def db() -> None:
    """The gradebook database."""


@db.command("upgrade")
@click.option("--url", default=None, help="SQLAlchemy URL (default: GRADER_DATABASE_URL from settings)")
@click.option("--revision", default="head", show_default=True, help="migrate to this revision")
def db_upgrade(url: str | None, revision: str) -> None:
    """Apply the migrations in migrations/ (a step of its own: nothing migrates on import)."""
    from grader.db.migrate import upgrade  # Alembic only loads for this command

    url = url or get_settings().database_url
    upgrade(url, revision)
    click.echo(f"gradebook at {revision}: {_safe_url(url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
