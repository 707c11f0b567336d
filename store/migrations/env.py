"""Alembic environment of the store.

There is no alembic.ini: :func:`store.engine.migrate` builds the config in code and hands over
an open connection, so the migration runs in the caller's transaction and schema (search_path).
Autogenerate a new revision with ``store.engine.alembic_config(url)`` and
``alembic.command.revision(cfg, message, autogenerate=True)``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from store.tables import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_online()
