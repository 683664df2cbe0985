"""Alembic environment for the gradebook.

The URL, in order: a connection handed in by ``grader.db.migrate`` (tests, the CLI), ``-x url=``,
``sqlalchemy.url`` in the config, grader's settings. Migrations render in batch mode so the same
file runs on SQLite (which cannot ALTER most things) and on Postgres.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from grader.db.engine import make_engine
from grader.db.types import UTCDateTime
from grader.tables import metadata

config = context.config


def _url() -> str:
    from_x = context.get_x_argument(as_dictionary=True).get("url")
    if from_x:
        return from_x
    from_ini = config.get_main_option("sqlalchemy.url")
    if from_ini:
        return from_ini
    from grader.settings import get_settings

    return get_settings().database_url


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Migrations must not import application types that may move or change later.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=metadata,
        render_as_batch=True,
        render_item=_render_item,
        compare_type=True,
        **kwargs,
    )


def run_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), for_migrations=True)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
