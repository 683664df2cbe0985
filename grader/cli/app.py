"""The ``grader`` group and what its commands share: settings, coursework files, gradebook sessions."""

from __future__ import annotations

import click
from pydantic import ValidationError

from grader.rubrics.loader import RubricError, load_coursework
from grader.settings import get_settings, settings_error


@click.group()
def main() -> None:
    """Coursework autograder."""
    try:  # a refused setting (a placeholder secret) stops every command, with the reason
        get_settings()
    except ValidationError as exc:
        raise click.ClickException(settings_error(exc)) from None


def coursework_files(name: str):
    """The coursework's rubric and files from disk, or a usage error."""
    try:
        return load_coursework(name, get_settings())
    except RubricError as exc:
        raise click.UsageError(str(exc)) from None


def gradebook_sessions():
    """A session factory on the gradebook of the settings."""
    from grader.db.engine import make_engine, session_factory

    return session_factory(make_engine(get_settings().database_url))


def safe_url(url: str) -> str:
    """A database URL fit to print: the password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
