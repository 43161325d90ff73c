"""Alembic environment of the hub store.

Used two ways:

* by `hub.store.engine.migrate`, which passes an open connection already inside a transaction
  (`config.attributes["connection"]`); the migrations then run in that transaction;
* by operators, through `python -m hub.store ...` or plain `alembic -c hub/store/migrations/alembic.ini
  ...`; the URL then comes from `-x url=...`, else the configuration, else HUB_DATABASE_URL, else the
  default SQLite file, and the engine is made by `hub.store.engine.create_engine`, with the same SQLite
  pragmas as the hub.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from hub.store.engine import create_engine, migration_lock, resolve_url
from hub.store.schema import metadata

config = context.config


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    return resolve_url(url or None).render_as_string(hide_password=False)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        # SQLite's DDL is transactional too, whatever Alembic assumes: one transaction for the lot.
        transactional_ddl=True,
        compare_type=True,
    )


def run_offline() -> None:
    """`--sql`: print the SQL for a DBA instead of running it."""
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    given: Connection | None = config.attributes.get("connection")
    if given is not None:
        _configure(given)
        with context.begin_transaction():  # a no-op inside the caller's transaction
            context.run_migrations()
        return
    engine = create_engine(_url())
    try:
        with engine.connect() as connection:
            connection.execution_options(hub_write=True)
            _configure(connection)
            with context.begin_transaction():
                migration_lock(connection)
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
