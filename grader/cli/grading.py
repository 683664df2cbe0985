"""Grading from the command line: ``grader grade`` and ``grader rubric check``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from grader.cli.app import coursework_files, main
from grader.grading.batch import BatchUsageError, grade_batch, submission_paths
from grader.grading.pipeline import grade_submission
from grader.grading.report import render_table
from grader.rubrics.check import check_rubric
from grader.settings import get_settings
from workers.judge.launcher import SubprocessJudge  # the worker side grading runs on
from workers.launchers import make_launcher


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--coursework", "-c", required=True, help="coursework id, e.g. cw1")
@click.option("--backend", type=click.Choice(["bwrap", "docker"]), default=None, help="sandbox backend")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object (one a line for several files)")
@click.option("--seed", type=int, default=None, help="fix the judge's random draws (reproduce a run)")
@click.option(
    "--artifacts-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="write the PNGs the hidden tests draw (for markers) into this folder (a folder per file in a batch)",
)
def grade(
    paths: tuple[Path, ...],
    coursework: str,
    backend: str | None,
    as_json: bool,
    seed: int | None,
    artifacts_dir: Path | None,
) -> None:
    """Grade a submission (a .ipynb, or a .zip with the notebook and model files), or a batch: several
    files, or folders (every .ipynb and .zip in them, sorted), one judge launcher for them all."""
    cw = coursework_files(coursework)
    single = len(paths) == 1 and paths[0].is_file()
    try:
        files = submission_paths(paths)
    except BatchUsageError as exc:
        raise click.UsageError(str(exc)) from None
    if artifacts_dir is not None:  # before grading: a folder we cannot write is a usage error, not a lost run
        try:
            artifacts_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.UsageError(f"--artifacts-dir {artifacts_dir}: {exc.strerror or exc}") from None
        if not os.access(artifacts_dir, os.W_OK | os.X_OK):
            raise click.UsageError(f"--artifacts-dir {artifacts_dir}: not writable")
    settings = get_settings()
    if single:  # the one-file contract (DESIGN.md "Interfaces"): one JSON object, exit 0 or 1
        with make_launcher(settings) as judge:
            report = grade_submission(
                files[0], cw, settings, judge=judge, backend=backend, seed=seed, artifacts_dir=artifacts_dir
            )
        click.echo(json.dumps(report.to_json(), indent=2) if as_json else render_table(report))
        sys.exit(0 if report.status == "graded" else 1)
    errors = 0
    with make_launcher(settings, jobs=len(files)) as judge:
        for item in grade_batch(
            files, cw, settings, judge=judge, backend=backend, seed=seed, artifacts_dir=artifacts_dir
        ):
            errors += item.report.status != "graded"
            if as_json:  # one object a line, printed as each is graded
                click.echo(json.dumps({"path": str(item.path), **item.report.to_json()}))
            else:
                click.echo(f"== {item.path}\n{render_table(item.report)}\n")
    if not as_json:
        click.echo(f"{len(files) - errors} of {len(files)} graded, {errors} ended in error")
    sys.exit(1 if errors else 0)


@main.group()
def rubric() -> None:
    """Rubric tools."""


@rubric.command("check")
@click.argument("coursework")
@click.option("--backend", type=click.Choice(["bwrap", "docker"]), default=None)
def rubric_check(coursework: str, backend: str | None) -> None:
    """Prove a rubric sound: the reference earns every auto point, the skeleton (nearly) none."""
    cw = coursework_files(coursework)
    ok = True
    for line, passed in check_rubric(cw, get_settings(), judge=SubprocessJudge(), backend=backend):
        click.echo(("ok    " if passed else "FAIL  ") + line)
        ok &= passed
    sys.exit(0 if ok else 1)
