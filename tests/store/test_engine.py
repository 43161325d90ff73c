"""URLs, SQLite settings, transactions, ids."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.store import ENV_VAR, Store, StoreError, new_id, open_store
from hub.store.engine import SQLITE_BUSY_TIMEOUT_MS, resolve_url
from hub.store.ids import _encode
from tests.conftest import PgDatabases


def test_url_from_argument_then_environment_then_default(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_url().render_as_string() == "sqlite:///var/hub.db"
    with open_store() as store:
        store.journal(b"x", channel="cli")
    assert (tmp_path / "var" / "hub.db").is_file()

    monkeypatch.setenv(ENV_VAR, f"sqlite:///{tmp_path}/env/hub.db")
    with open_store() as store:
        assert store.counts()["messages"] == 0
    assert (tmp_path / "env" / "hub.db").is_file()
    with open_store(f"sqlite:///{tmp_path}/arg.db") as store:
        assert store.url.database == f"{tmp_path}/arg.db"


def test_postgresql_means_psycopg_3_and_other_databases_are_refused() -> None:
    assert resolve_url("postgresql://hub@db/hub").drivername == "postgresql+psycopg"
    assert resolve_url("postgresql+psycopg://hub@db/hub").drivername == "postgresql+psycopg"
    with pytest.raises(StoreError, match="unsupported database"):
        resolve_url("mysql://hub@db/hub")


def test_in_memory_sqlite_works() -> None:
    with open_store("sqlite://") as store:
        entry = store.journal(b"x", channel="cli")
        assert store.message(entry.id) is not None


def pragma(store: Store, name: str) -> object:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_sqlite_settings(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/hub.db") as store:
        assert pragma(store, "journal_mode") == "wal"
        assert pragma(store, "foreign_keys") == 1
        assert pragma(store, "busy_timeout") == SQLITE_BUSY_TIMEOUT_MS
        assert pragma(store, "synchronous") == 1  # NORMAL

        # The journal's commit is synced (FULL), the others are not; the setting follows each
        # transaction on the same pooled connection.
        def synchronous_in(durable: bool) -> object:
            with store.transaction(durable=durable) as tx:
                return tx._c.exec_driver_sql("PRAGMA synchronous").scalar()

        assert synchronous_in(durable=True) == 2
        assert synchronous_in(durable=False) == 1
        assert synchronous_in(durable=True) == 2


def test_readers_are_not_blocked_by_a_writer(store: Store) -> None:
    """WAL on SQLite (and MVCC on PostgreSQL): tracking pages can read while intake writes."""
    store.journal(b"committed", channel="cli")
    holding = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with store.transaction() as tx:
            tx.journal(b"in flight", channel="cli")
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        assert store.counts()["messages"] == 1  # the committed one only
        assert time.monotonic() - started < 2
    finally:
        release.set()
        thread.join()
    assert store.counts()["messages"] == 2


def test_ids_are_unique_and_sort_in_creation_order() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(len(i) == 26 and set(i) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for i in ids)


@given(st.integers(0, 2**48 - 1), st.integers(0, 2**80 - 1))
def test_an_id_is_its_time_then_its_random_part_in_crockford_base_32(ms: int, rnd: int) -> None:
    def digits(value: int, length: int) -> str:  # the definition, one base-32 digit at a time
        return "".join("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[(value >> 5 * k) & 31] for k in reversed(range(length)))

    assert _encode(ms, rnd) == digits(ms, 10) + digits(rnd, 16)


def test_a_postgresql_connection_that_died_while_idle_is_replaced(pg_databases: PgDatabases,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The server ended the pooled connection (a restart, an idle timeout): the next use, after the
    connection sat idle, tries it first and takes a new one instead of failing."""
    import psycopg
    from sqlalchemy import make_url

    import hub.store.engine as engine_module

    pg_store_url = pg_databases.create()
    with open_store(pg_store_url) as store:
        with store.engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with store.engine.connect() as conn:  # used a moment ago: no round trip to try it
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() == pid
        admin = make_url(pg_store_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as other:
            assert other.execute(f"SELECT pg_terminate_backend({pid})").fetchone() == (True,)
        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)  # as if it had sat idle a while
        store.journal(b"after the restart", channel="cli")
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != pid
        assert store.counts()["messages"] == 1
