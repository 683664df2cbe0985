"""Applying the Alembic migrations in ``migrations/``: a step of its own, never on import."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from grader.settings import REPO_ROOT

MIGRATIONS_DIR = REPO_ROOT / "migrations"


def alembic_config(url: str) -> Config:
    """The same configuration as ``alembic.ini``, built here so any working directory works."""
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser treats % as interpolation; URLs may hold %-escaped passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head", *, secret_key: str | None = None) -> None:
    """``secret_key``: the service's, for migrations that seal data with it (default: the settings')."""
    config = alembic_config(url)
    if secret_key is not None:
        config.attributes["secret_key"] = secret_key
    command.upgrade(config, revision)


def downgrade(url: str, revision: str, *, secret_key: str | None = None) -> None:
    config = alembic_config(url)
    if secret_key is not None:
        config.attributes["secret_key"] = secret_key
    command.downgrade(config, revision)


def head_revision() -> str | None:
    """The newest revision this code's migrations know."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def knows_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this code's migrations (a newer version's is not)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision) is not None
    except CommandError:
        return False
