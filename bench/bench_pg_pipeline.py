"""The pipeline on PostgreSQL: statements and CPU a message, without AMQP or a second process.

    .venv/bin/python bench/bench_pg_pipeline.py [--count 2000] [--calls 20] [--url postgresql+psycopg://...]

Journals `--count` messages of the load benchmark's traffic (`bench/traffic.py`) into a fresh database
(created on the server of `--url` and dropped afterwards), then runs one pipeline worker over them in
this thread (validation and mapping included, no helper process) and prints, a message: the statements
sent to PostgreSQL (psycopg `execute` and `executemany` calls, each at least one round trip) and the CPU
time of this process. Both are steadier than a rate on a shared machine; compare two versions of the
hub by running this from each checkout.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from traffic import PARTNERS_YAML, messages  # noqa: E402

from hub.catalog import Catalog  # noqa: E402
from hub.config import Settings  # noqa: E402
from hub.partners import load_partners  # noqa: E402
from hub.pipeline import Pipeline  # noqa: E402
from hub.store import open_store  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                    help="a database on the server to use; the benchmark makes its own beside it")
    args = ap.parse_args()
    server = sa.make_url(args.url)
    name = f"bench_pg_pipeline_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        return run(server.set(database=name), args.count, args.calls)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def run(url: sa.URL, count: int, calls: int) -> int:
    store = open_store(url.render_as_string(hide_password=False))
    home = Path(tempfile.mkdtemp(prefix="bench-pg-pipeline-"))
    (home / "partners.yaml").write_text(PARTNERS_YAML.format(prefix="bench"))
    settings = Settings.defaults(home)
    partners = load_partners(home / "partners.yaml", settings)
    for m in messages(count, calls):
        store.journal(m.body, channel="amqp", partner=m.partner)
    counts = {"execute": 0, "executemany": 0}
    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def counted_execute(self: Any, *a: Any, **kw: Any) -> Any:
        counts["execute"] += 1
        return execute(self, *a, **kw)

    def counted_executemany(self: Any, *a: Any, **kw: Any) -> Any:
        counts["executemany"] += 1
        return executemany(self, *a, **kw)

    psycopg.Cursor.execute, psycopg.Cursor.executemany = counted_execute, counted_executemany  # type: ignore[method-assign]
    try:
        pipeline = Pipeline(store, Catalog(), lambda: partners, settings, worker="bench:1:a")
        t0, c0 = time.perf_counter(), time.process_time()
        done = 0
        while n := pipeline.run_once():
            done += n
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    finally:
        psycopg.Cursor.execute, psycopg.Cursor.executemany = execute, executemany  # type: ignore[method-assign]
        store.close()
    print(f"{done} messages over {calls} calls, one worker on PostgreSQL: {done / wall:.0f} msg/s")
    print(f"a message: {counts['execute'] / done:.1f} execute + {counts['executemany'] / done:.2f} executemany, "
          f"CPU {cpu * 1000 / done:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
