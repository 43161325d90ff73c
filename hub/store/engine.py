"""Connections: which database, how SQLite is tuned, how transactions begin, and migrating to head.

URL: the argument, else `HUB_DATABASE_URL`, else `sqlite:///var/hub.db` (relative to the working
directory; `var/` is created). `postgresql://` means psycopg 3 (`postgresql+psycopg://`).

SQLite transactions are begun by us, not by the sqlite3 module (which is put in autocommit mode): a
transaction that will write starts with `BEGIN IMMEDIATE`, taking the write lock up front. With a plain
(deferred) BEGIN, a transaction that reads and then writes can fail with SQLITE_BUSY at the write, when
another connection committed in between, and busy_timeout cannot help there; with IMMEDIATE, writers
queue on busy_timeout instead. Read-only transactions use a deferred BEGIN and never block anyone (WAL).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

__all__ = [
    "DEFAULT_URL",
    "ENV_VAR",
    "Checkpointer",
    "StoreError",
    "alembic_config",
    "checkpointer_for",
    "create_engine",
    "migrate",
    "migration_lock",
    "resolve_url",
    "transaction",
]

ENV_VAR = "HUB_DATABASE_URL"
DEFAULT_URL = "sqlite:///var/hub.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Writers wait this long for the SQLite write lock before failing. Commits take milliseconds (a 10 MB
# bayplan tens of them), so 30 s only runs out when something holds a transaction open far too long.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# After a checkpoint, truncate the WAL file back to this size: a burst of large bayplans can grow the
# WAL to hundreds of MB, which would otherwise stay allocated on disk.
SQLITE_JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
# SQLite checkpoints the WAL (copies it into the database file and syncs it) inside the commit that
# grows it past this many pages. A store's own Checkpointer thread does it first (see there); this is the
# fallback should that thread fall behind (SQLite's default is 1,000 pages).
SQLITE_AUTOCHECKPOINT_PAGES = 16_384

# Execution options understood by the begin hook (set by hub.store.store.Store.transaction).
OPT_WRITE = "hub_write"  # SQLite: BEGIN IMMEDIATE
OPT_DURABLE = "hub_durable"  # SQLite: synchronous=FULL for this commit (see _sqlite_begin)


class StoreError(Exception):
    """Base of the errors the store raises on purpose."""


def resolve_url(url: str | URL | None = None) -> URL:
    u = make_url(url or os.environ.get(ENV_VAR) or DEFAULT_URL)
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"unsupported database {u.render_as_string(hide_password=True)!r}: "
                         "the store runs on sqlite:///path or postgresql://...")
    return u


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def encode_json(value: Any) -> str:
    """A JSON column's text: compact, non-ASCII (Arabic, French names) kept as is rather than
    escaped, like json.dumps(ensure_ascii=False, separators=(",", ":")). With orjson because a busy
    vessel call's document is rewritten on every message of the call, and the standard library's
    encoder was a sixth of the pipeline's time (bench/bench_load.py under py-spy); orjson takes a seventh
    of that. Keys that are not strings become strings, as json.dumps makes them."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def create_engine(url: str | URL | None = None, **kwargs: Any) -> Engine:
    """An engine for the URL, with the SQLite pragmas and transaction hooks in place (no migration)."""
    u = resolve_url(url)
    options: dict[str, Any] = {"json_serializer": encode_json, "json_deserializer": orjson.loads}
    if u.get_backend_name() == "sqlite":
        if _is_memory(u):
            # One shared connection, or every checkout would see its own empty database.
            options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        elif u.database and not u.database.startswith("file:"):
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
    options.update(kwargs)
    engine = sa.create_engine(u, **options)
    if u.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
    elif not options.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


# A pooled connection idle for longer than this is tried before it is handed out.
PING_AFTER_IDLE_S = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """A database server restart must not fail the next request made on a connection opened before it,
    so a connection that has been idle is tried (a round trip) before use, and replaced if dead. Not one
    in use a moment ago: SQLAlchemy's `pool_pre_ping` tried every checkout, a round trip more for every
    transaction (journalling one file: 5 statements instead of 4; the pipeline: 9.0 -> 8.8 a message in
    bench/bench_pg_pipeline.py, its transactions being a batch's). A server lost between two
    close uses fails that one transaction, which every caller retries (the pipeline's cycle, an AMQP
    batch left unacked, an SFTP file handed over again)."""

    def checked_in(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["hub_idle_since"] = time.monotonic()

    def checkout(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        since = record.info.get("hub_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool drops this connection and checks out another (a new one if need be).
            raise sa.exc.DisconnectionError(f"connection idle for {time.monotonic() - since:.0f} s is dead: "
                                            f"{exc}") from exc

    sa.event.listen(engine, "checkin", checked_in)
    sa.event.listen(engine, "checkout", checkout)


def _sqlite_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    conn: sqlite3.Connection = dbapi_connection
    conn.isolation_level = None  # autocommit in the driver: _sqlite_begin emits BEGIN itself
    conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    _use_wal(conn)
    for pragma in (
        # NORMAL: in WAL mode, commits do not fsync; the WAL is synced at checkpoints. A committed
        # transaction survives a crash of the process; an OS crash or power cut can lose the last
        # commits, never corrupt the database. That is right for every pipeline stage, which the hub
        # re-runs from stored inputs at start-up (DESIGN: stages are idempotent), and it makes commits
        # about 3x faster. The one write that must survive a power cut, the journal of a message whose
        # transport is about to be acknowledged, asks for FULL for its own commit (OPT_DURABLE).
        "PRAGMA synchronous = NORMAL",
        "PRAGMA foreign_keys = ON",  # off by default in SQLite, per connection
        f"PRAGMA journal_size_limit = {SQLITE_JOURNAL_SIZE_LIMIT}",
        f"PRAGMA wal_autocheckpoint = {SQLITE_AUTOCHECKPOINT_PAGES}",
    ):
        conn.execute(pragma)
    record.info["hub_synchronous"] = "NORMAL"


class Checkpointer:
    """Checkpoints a SQLite database's WAL on a thread of its own (PRAGMA wal_checkpoint(PASSIVE) every
    `interval` seconds, through its own connection), so that no committing thread pays for it.

    Left to SQLite, the commit that grows the WAL past 1,000 pages copies the whole WAL into the database
    file and syncs it: a 24,000-container bayplan's commit spent 60-80 ms of its 1.2 s on that, and most
    of its run-to-run variance, and the pipeline thread stalled on it every few batches. PASSIVE never
    waits for readers or writers: it copies what it can now and the rest next time; the sqlite3 module
    releases the GIL while it runs. `wal_autocheckpoint` stays as a fallback at a higher mark."""

    def __init__(self, path: str, interval: float = 0.25) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return  # the store reports its own errors; SQLite's autocheckpoint still runs
        try:
            while not self._stop.wait(self.interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    pass  # e.g. the file is being replaced in a test; next time, or the fallback
        finally:
            conn.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def checkpointer_for(engine: Engine) -> Checkpointer | None:
    """A Checkpointer for an engine on a SQLite file in WAL mode, else None (PostgreSQL, memory)."""
    u = engine.url
    if u.get_backend_name() != "sqlite" or _is_memory(u) or not u.database or u.database.startswith("file:"):
        return None
    return Checkpointer(u.database)


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the database in WAL mode: readers never block the writer nor the writer the readers (tracking
    pages read while intake writes), and a commit appends to one file instead of writing pages twice.

    The mode is stored in the database file, so this only changes something on a new database. Doing
    so needs an exclusive lock, and SQLite reports "database is locked" at once, without waiting
    busy_timeout, when several connections open a new database together: retry for as long.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode in ("wal", "memory"):  # an in-memory database has no WAL
                return
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    # synchronous can only change outside a transaction, so it is set here, just before BEGIN, and
    # only when it differs from what this connection last had.
    synchronous = "FULL" if options.get(OPT_DURABLE) else "NORMAL"
    if conn.info.get("hub_synchronous") != synchronous:
        conn.exec_driver_sql(f"PRAGMA synchronous = {synchronous}")
        conn.info["hub_synchronous"] = synchronous
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(OPT_WRITE) else "BEGIN")


# SQLite lets one writer in at a time, and a writer that finds the database locked sleeps in the busy
# handler (1, 2, 5, 10 ... 100 ms) before trying again, while the thread that holds the lock can take it
# again at once: with a pipeline thread committing back to back, an intake or delivery thread of the same
# process could starve for seconds. So the writers of one process queue on a lock of their own first,
# which hands over without sleeping; busy_timeout still arbitrates between processes.
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(engine: Engine) -> threading.Lock:
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(engine, threading.Lock())


@contextmanager
def transaction(engine: Engine, *, write: bool, durable: bool = False) -> Iterator[Connection]:
    """A connection inside a transaction: committed when the block ends, rolled back if it raises."""
    if write and engine.dialect.name == "sqlite":
        with _write_lock(engine), _transaction(engine, write=write, durable=durable) as conn:
            yield conn
        return
    with _transaction(engine, write=write, durable=durable) as conn:
        yield conn


@contextmanager
def _transaction(engine: Engine, *, write: bool, durable: bool = False) -> Iterator[Connection]:
    with engine.connect() as conn:
        conn.execution_options(**{OPT_WRITE: write, OPT_DURABLE: durable})
        with conn.begin():
            yield conn


# --- migrations -------------------------------------------------------------------------------------

# Any fixed 64-bit number: the PostgreSQL advisory lock that serialises migrations between hub
# processes starting at the same time.
_MIGRATION_LOCK = int.from_bytes(hashlib.sha256(b"hub.store migrations").digest()[:8], "big", signed=True)


def migration_lock(conn: Connection) -> None:
    """Within the current transaction, wait until no other process is migrating this database.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: nothing to do, the transaction already
    holds the write lock (BEGIN IMMEDIATE), and SQLite DDL is transactional.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))


def alembic_config(url: str | URL | None = None, connection: Connection | None = None) -> Config:
    """The Alembic configuration, built in code: no alembic.ini is needed."""
    cfg = Config(stdout=sys.stdout)  # the stream of the moment, not the one at import (alembic default)
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("file_template", "v%%(rev)s_%%(slug)s")  # see migrations/alembic.ini
    u = resolve_url(url)
    # ConfigParser interpolation: a % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", u.render_as_string(hide_password=False).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine) -> list[str]:
    """Bring the database to the head revision if it is not there; return the revisions it was at.

    Runs in one transaction (both backends have transactional DDL), under migration_lock, so two hub
    processes starting together against an empty database migrate it once. A database at a revision
    this code does not know (migrated by a newer hub) is refused rather than touched.
    """
    script = ScriptDirectory.from_config(alembic_config(engine.url))
    heads = set(script.get_heads())
    with transaction(engine, write=True) as conn:
        migration_lock(conn)
        current = set(MigrationContext.configure(conn).get_current_heads())
        if current == heads:
            return sorted(current)
        for rev in current:
            try:
                script.get_revision(rev)
            except CommandError as exc:
                raise StoreError(
                    f"the database is at revision {rev}, which this version of the hub does not know "
                    "(migrated by a newer version?); refusing to use it") from exc
        command.upgrade(alembic_config(engine.url, connection=conn), "head")
        return sorted(current)
