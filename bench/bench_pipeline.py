"""The pipeline alone: typical traffic journalled into a SQLite store, then processed, without AMQP.

    .venv/bin/python bench/bench_pipeline.py [--count 4000] [--calls 400] [--batch 20] [--profile FILE]

What `hub serve`'s pipeline thread does per message (validate, acknowledge, map, correlate, route into
the outbox), measured where nothing else competes for the interpreter: no AMQP intake, no delivery
thread. The baseline, in the same run and on the same bytes, is the pure part of that work
(`validate_located` / `parse_and_validate` and the mapping), which no store can make faster:
the ratio baseline / pipeline says what share of a message's time correlation and the store take.
The rate is reported for each quarter of the run too, since a call's messages grow in number as it
goes (`count / calls` by the end). `--profile FILE` writes cProfile statistics of the pipeline run.
"""

from __future__ import annotations

import argparse
import cProfile
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from traffic import PARTNERS_YAML, Message, messages  # noqa: E402

from hub.catalog import Catalog  # noqa: E402
from hub.config import Settings  # noqa: E402
from hub.edifact.validator import validate_located  # noqa: E402
from hub.mapping.run import map_edifact, map_xml  # noqa: E402
from hub.partners import PartnersFile  # noqa: E402
from hub.pipeline import Pipeline  # noqa: E402
from hub.preparation import ProcessPreparer  # noqa: E402
from hub.store import open_store  # noqa: E402
from hub.xml import parse_and_validate  # noqa: E402


def pure_work(msgs: list[Message], catalog: Catalog) -> float:
    """Validate and map every message, as the pipeline's prepare step does, storing nothing."""
    t0 = time.perf_counter()
    for m in msgs:
        if m.kind == "wco":
            _, root = parse_and_validate(m.body)
            map_xml(root, catalog.mappings())
        else:
            _, located = validate_located(m.body, catalog)
            map_edifact(located, catalog.mappings(), catalog.directory)
    return time.perf_counter() - t0


def run_pipeline(msgs: list[Message], catalog: Catalog, batch: int, profile: str | None,
                 processes: int = 0) -> tuple[float, list[float], float]:
    home = Path(tempfile.mkdtemp(prefix="hub-bench-pipeline-"))
    (home / "partners.yaml").write_text(PARTNERS_YAML.format(prefix="bench"))
    store = open_store(f"sqlite:///{home / 'hub.db'}")
    queues = {p: f"bench.{p.lower()}" for p in ("AML", "KASBAH", "BROKER")}
    with store.transaction(durable=True) as tx:
        for m in msgs:
            tx.journal(m.body, channel="amqp", partner=m.partner, meta={"queue": queues[m.partner]})
    settings = Settings.defaults(home)
    preparer = ProcessPreparer(catalog, processes) if processes else None
    if preparer is not None:  # started (spawned, imports, directories loaded) before the clock runs
        preparer.submit([(m.body, None) for m in msgs[:4 * processes]]).result()
    pipeline = Pipeline(store, catalog, PartnersFile(home / "partners.yaml", settings).current, settings,
                        preparer=preparer)
    quarter = max(1, len(msgs) // 4)
    marks: list[float] = []
    done = 0
    profiler = cProfile.Profile() if profile else None
    t0, cpu0 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    while n := pipeline.run_once(limit=batch):
        done += n
        while len(marks) < 4 and done >= quarter * (len(marks) + 1):
            marks.append(time.perf_counter())
    total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    store.close()
    if preparer is not None:
        preparer.close()
    if done != len(msgs):
        raise SystemExit(f"the pipeline processed {done} of {len(msgs)} messages")
    edges = [t0, *marks]
    return total, [quarter / (b - a) for a, b in zip(edges, edges[1:], strict=False)], cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=4000)
    ap.add_argument("--calls", type=int, default=400, help="vessel calls the traffic is spread over")
    ap.add_argument("--batch", type=int, default=20, help="messages leased per run_once (hub serve: 20)")
    ap.add_argument("--repeat", type=int, default=1, help="pipeline runs, each into a fresh store")
    ap.add_argument("--prepare-processes", type=int, default=0,
                    help="helper processes for validation and mapping (hub serve: 1 on 2+ cores)")
    ap.add_argument("--profile", help="write cProfile statistics of the (last) pipeline run here")
    args = ap.parse_args()
    msgs = messages(args.count, args.calls)
    catalog = Catalog()
    pure_work(msgs[:40], catalog)  # loads directories, schemas and mapping specs (for both runs)
    pure = statistics.median(pure_work(msgs, catalog) for _ in range(max(1, args.repeat)))
    runs = [run_pipeline(msgs, catalog, args.batch, args.profile, args.prepare_processes)
            for _ in range(max(1, args.repeat))]
    total = statistics.median(t for t, _, _ in runs)
    cpu = statistics.median(c for _, _, c in runs)
    quarters = runs[len(runs) // 2][1]
    print(f"{args.count:,} messages over {args.calls} calls ({args.count // args.calls} a call by the end), "
          f"batches of {args.batch}, {args.prepare_processes or 'no'} helper process(es)")
    print(f"validate + map only (baseline)   {args.count / pure:8.0f} msg/s  ({pure:.2f} s)")
    print(f"pipeline (everything, SQLite)    {args.count / total:8.0f} msg/s  ({total:.2f} s)")
    print("  by quarter of the run:          " + "  ".join(f"{r:.0f}" for r in quarters) + " msg/s")
    print(f"ratio pipeline / baseline time   {total / pure:8.2f}x")
    print(f"CPU of this process a message    {cpu * 1000 / args.count:8.2f} ms  (helper processes not counted; "
          "steadier than the rates on a busy machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
