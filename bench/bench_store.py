"""Benchmark: how many messages a second the store journals, one commit each, against bare drivers.

    .venv/bin/python bench/bench_store.py                     # 5 KB messages, SQLite and PostgreSQL
    .venv/bin/python bench/bench_store.py --count 500 --no-postgres --no-large   # a quick look

Measured in one run, on the same payloads (see docs/store.md, "Speed"):

* SQLite baseline: Python's sqlite3 inserting (id, sha256, raw) into one indexed table and committing
  each message, WAL, with synchronous=FULL and with NORMAL: the least any journal could do;
* `Store.journal`: what intake calls before acknowledging a transport. Hash, duplicate look-up, two
  rows (message, body), one commit that SQLite syncs to disk (synchronous=FULL for that commit);
* `tx.journal` inside `store.transaction()`: the same with a NORMAL (unsynced) commit, to show what the
  synced commit costs;
* `Store.set_status`: a pipeline-stage update, NORMAL commit;
* a 10 MB message journaled (MB/s);
* PostgreSQL, when reachable: psycopg inserting and committing each message, then `Store.journal` and
  `Store.set_status`, in a throw-away database.

Ratios are hub time / baseline time per message (above 1: the store is slower than the bare driver).
The target is the hub's ingestion goal (domain/port-community.md 5.3): a burst of 200 messages/s.
Exit status 0 when the journal sustains it, 1 when it does not although the bare driver commits at
twice the goal or more. Below that the disk's sync latency (shared with everything else on the machine)
bounds both, and the run is reported inconclusive.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hub.store import Store, new_id, open_store  # noqa: E402

BURST_TARGET = 200.0  # messages/s, domain/port-community.md 5.3 goal 1
PG_ADMIN_URL = os.environ.get("HUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def payloads(count: int, size: int) -> list[bytes]:
    """Distinct messages (no duplicates) of `size` bytes, EDIFACT-looking."""
    body = (b"LOC+147+0120382::5'MEA+VGM++KGM:24000'EQD+CN+MSKU1234565+45G1:102:5'" * (size // 64 + 1))
    return [(b"UNB+UNOA:2+MAEU+TMPORT+251127:0815+%08d'" % i + body)[:size] for i in range(count)]


def rate(fn: Callable[[bytes], object], data: list[bytes], repeat: int) -> float:
    """Median messages/s over `repeat` passes of fn over data (each pass on distinct messages)."""
    rates = []
    for r in range(repeat):
        marker = b"%03d" % r
        batch = [d[:-3] + marker for d in data]
        t0 = time.perf_counter()
        for d in batch:
            fn(d)
        rates.append(len(batch) / (time.perf_counter() - t0))
    return statistics.median(rates)


def bare_sqlite(path: Path, synchronous: str) -> tuple[Callable[[bytes], object], Callable[[], None]]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("CREATE TABLE IF NOT EXISTS journal (id TEXT PRIMARY KEY, sha256 TEXT, raw BLOB)")
    conn.execute("CREATE INDEX IF NOT EXISTS journal_sha256 ON journal (sha256)")

    def insert(raw: bytes) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO journal VALUES (?, ?, ?)", (new_id(), hashlib.sha256(raw).hexdigest(), raw))
        conn.execute("COMMIT")

    return insert, conn.close


def journal_fn(store: Store) -> Callable[[bytes], object]:
    return lambda raw: store.journal(raw, channel="sftp", partner="MAEU", filename="bench.edi")


def journal_unsynced_fn(store: Store) -> Callable[[bytes], object]:
    def journal(raw: bytes) -> None:
        with store.transaction() as tx:
            tx.journal(raw, channel="sftp", partner="MAEU", filename="bench.edi")
    return journal


def set_status_rate(store: Store, count: int) -> float:
    ids = [m.id for m in store.messages_in_status("received", limit=count)]
    t0 = time.perf_counter()
    for message_id in ids:
        store.set_status(message_id, "validated")
    return len(ids) / (time.perf_counter() - t0)


def line(label: str, per_s: float, baseline: float | None = None) -> None:
    ratio = f"{baseline / per_s:8.2f}x" if baseline else ""
    print(f"{label:<58} {per_s:>10,.0f}/s {1e6 / per_s:>9,.0f} us {ratio}")


def bench_sqlite(workdir: Path, data: list[bytes], repeat: int, large: bool) -> tuple[float, float]:
    """(Store.journal rate, bare synced-commit rate)."""
    print(f"\nSQLite {sqlite3.sqlite_version}, WAL, one commit per message, in {workdir}")
    print(f"{'measurement':<58} {'rate':>12} {'per msg':>12} {'vs bare':>9}")
    print("-" * 94)
    results = {}
    for sync in ("FULL", "NORMAL"):
        insert, close = bare_sqlite(workdir / f"bare-{sync.lower()}.db", sync)
        results[sync] = rate(insert, data, repeat)
        close()
        line(f"bare sqlite3 insert + commit, synchronous={sync}", results[sync])
    with open_store(f"sqlite:///{workdir / 'hub.db'}") as store:
        journal = rate(journal_fn(store), data, repeat)
        line("Store.journal (synced commit: synchronous=FULL)", journal, results["FULL"])
        line("tx.journal in store.transaction() (synchronous=NORMAL)",
             rate(journal_unsynced_fn(store), data, repeat), results["NORMAL"])
        line("Store.set_status (synchronous=NORMAL)", set_status_rate(store, len(data)))
        if large:
            big = os.urandom(10 * 1024 * 1024)
            runs = []
            for i in range(3):
                raw = big[:-1] + bytes([i])
                t0 = time.perf_counter()
                store.journal(raw, channel="sftp", filename="big.edi")
                runs.append(time.perf_counter() - t0)
            seconds = statistics.median(runs)
            print(f"{'Store.journal of a 10 MB message':<58} {10.48576 / seconds:>10,.1f} MB/s "
                  f"{seconds * 1000:>6,.0f} ms")
    return journal, results["FULL"]


def bench_postgres(data: list[bytes], repeat: int) -> tuple[float, float] | None:
    """(Store.journal rate, bare commit rate), or None when the server is not reachable."""
    try:
        import psycopg
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:
        print(f"\nPostgreSQL: skipped, not reachable at {PG_ADMIN_URL} ({' '.join(str(exc).split())})")
        return None
    from sqlalchemy.engine import make_url

    name = f"hub_bench_{secrets.token_hex(4)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        version = admin.execute("SHOW server_version").fetchone()
        print(f"\nPostgreSQL {version[0] if version else '?'}, one commit per message, database {name}")
        print(f"{'measurement':<58} {'rate':>12} {'per msg':>12} {'vs bare':>9}")
        print("-" * 94)
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE journal (id text PRIMARY KEY, sha256 text, raw bytea)")
            conn.execute("CREATE INDEX ON journal (sha256)")
            conn.commit()

            def insert(raw: bytes) -> None:
                conn.execute("INSERT INTO journal VALUES (%s, %s, %s)",
                             (new_id(), hashlib.sha256(raw).hexdigest(), raw))
                conn.commit()

            bare = rate(insert, data, repeat)
        line("bare psycopg insert + commit", bare)
        with open_store(url) as store:
            journal = rate(journal_fn(store), data, repeat)
            line("Store.journal", journal, bare)
            line("Store.set_status", set_status_rate(store, len(data)))
        return journal, bare
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="messages per pass (default 2000)")
    parser.add_argument("--size", type=int, default=5 * 1024, help="bytes per message (default 5120)")
    parser.add_argument("--repeat", type=int, default=3, help="passes; the median is printed (default 3)")
    parser.add_argument("--dir", type=Path, help="where the SQLite files go (default: a temporary folder)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-large", action="store_true", help="skip the 10 MB message")
    args = parser.parse_args(argv)

    data = payloads(args.count, args.size)
    print(f"{args.count} distinct messages of {args.size:,} bytes a pass, {args.repeat} passes, median")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        sqlite_rates = bench_sqlite(Path(tmp), data, args.repeat, not args.no_large)
    pg_rates = None if args.no_postgres else bench_postgres(data, args.repeat)

    print()
    ok = True
    for backend, rates in (("SQLite", sqlite_rates), ("PostgreSQL", pg_rates)):
        if rates is None:
            continue
        journal, bare = rates
        if journal >= BURST_TARGET:
            verdict = "met"
        elif bare < 2 * BURST_TARGET:
            # Both rates are bound by the disk's sync latency, shared with whatever else runs on the
            # machine. When the bare driver cannot commit at twice the goal, the disk leaves too
            # little room to tell the store's own cost from the disk's: the run judges nothing.
            verdict = f"inconclusive: the bare driver itself committed only {bare:,.0f}/s on this disk"
        else:
            verdict = "MISSED"
            ok = False
        print(f"{backend} Store.journal {journal:,.0f} messages/s: {journal / BURST_TARGET:,.1f}x the burst "
              f"goal of {BURST_TARGET:.0f}/s ({verdict})")
    print("SUMMARY: " + ("all targets met" if ok else "target missed"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
