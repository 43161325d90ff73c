"""Fixtures running the store tests against both backends.

* `store`: an open, migrated, empty `Store`; params `sqlite` (a fresh file per test) and `postgresql`
  (one throw-away database `hub_test_<random>` per session, emptied before each test).
* `empty_url`: the URL of a fresh, empty database on each backend, for the migration tests.

PostgreSQL is reached through HUB_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/postgres,
trust auth); the databases made there are dropped at the end of the session. When the server cannot be
reached, the `postgresql` variants are skipped and say why.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from hub.store import Store, open_store
from hub.store.schema import metadata

BACKENDS = ["sqlite", "postgresql"]
PG_ADMIN_URL = os.environ.get("HUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


class PgDatabases:
    """Creates throw-away databases on the test server and drops them all at the end."""

    def __init__(self, admin: psycopg.Connection[tuple[object, ...]]) -> None:
        self.admin = admin
        self.names: list[str] = []

    def create(self) -> str:
        name = f"hub_test_{secrets.token_hex(6)}"
        self.admin.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self.names:
            self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({reason}); start it with "
                    "scripts/services.sh or point HUB_TEST_POSTGRES at a server")
    databases = PgDatabases(admin)
    try:
        yield databases
    finally:
        databases.drop_all()
        admin.close()


@pytest.fixture(scope="session")
def pg_store_url(pg_databases: PgDatabases) -> str:
    """One migrated database shared by the `store` tests of a session."""
    url = pg_databases.create()
    open_store(url).close()
    return url


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    databases: PgDatabases = request.getfixturevalue("pg_databases")
    return databases.create()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    else:
        opened = open_store(request.getfixturevalue("pg_store_url"))
        with opened.engine.begin() as conn:
            tables = ", ".join(table.name for table in metadata.sorted_tables)
            conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    try:
        yield opened
    finally:
        opened.close()
