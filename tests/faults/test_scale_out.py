"""Scale-out on PostgreSQL: two `hub serve` processes (two homes with the same partners.yaml, their own
SFTP and HTTP ports) share one database and compete for the same queues. Every message is journalled
once and processed once, by one of them; both do work; none is skipped.

Size: HUB_FAULT_SCALE_COUNT messages (default 2000, as the brief asks).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PgDatabases
from tests.faults.conftest import (
    Collector,
    ConfirmingPublisher,
    HubHome,
    HubProcess,
    Queues,
    check_arrived,
    check_exactly_once,
    log,
    partners_yaml,
    read_store,
    traffic,
    wait_drained,
    wait_until,
)

COUNT = int(os.environ.get("HUB_FAULT_SCALE_COUNT", "2000"))


def _records(hub: HubProcess) -> list[dict[str, Any]]:
    out = []
    for line in hub.log_lines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


@pytest.mark.slow
def test_two_hub_processes_on_postgresql_process_each_message_once(
        tmp_path: Path, queues: Queues, hubs: list[HubProcess], pg_databases: PgDatabases) -> None:
    url = pg_databases.create()
    msgs = traffic.messages(COUNT, max(1, COUNT // 8))
    bodies = [m.body for m in msgs]
    queues.declare_inbound()
    queues.declare_out()
    partners = partners_yaml(queues.prefix)
    for k in (1, 2):
        home = HubHome.make(tmp_path / f"home{k}", partners, database_url=url,
                            toml_extra="[log]\nformat = \"json\"\n[delivery]\ninitial_backoff_s = 1\n")
        hubs.append(HubProcess(home, name=f"hub{k}"))
    for hub in hubs:
        hub.start()
    for hub in hubs:
        hub.wait_healthy()
    collector = Collector(queues.out)
    collector.start()
    assert collector.connected.wait(10)

    t0 = time.monotonic()
    publisher = ConfirmingPublisher([(queues.inbound[m.partner], m.body) for m in msgs])
    publisher.start()
    publisher.join(300)
    assert publisher.error is None and not publisher.republished
    log(f"published {COUNT} in {time.monotonic() - t0:.1f} s")
    wait_drained(url, COUNT, 1800, hubs)
    assert wait_until(lambda: collector.distinct() >= COUNT, 120)
    elapsed = time.monotonic() - t0
    time.sleep(2)  # a late second copy, if any, would arrive now
    collector.stop()
    for hub in hubs:
        assert hub.alive(), hub.log_tail()

    view = read_store(url)
    problems = check_exactly_once(view, bodies)
    problems += check_arrived(collector, bodies)
    assert not problems, problems
    assert not view.duplicates()  # no connection was lost: nothing was delivered to both
    assert all(n == 0 for n in queues.dead_depths().values())

    # Who did what, from each process's log (one JSON object a line).
    processed: dict[str, Counter[str]] = {}
    delivered: dict[str, Counter[str]] = {}
    journalled: dict[str, int] = {}
    for hub in hubs:
        records = _records(hub)
        processed[hub.name] = Counter(r["message_id"] for r in records
                                      if r.get("logger") == "hub.pipeline" and r.get("status") == "routed")
        delivered[hub.name] = Counter(r["delivery_id"] for r in records
                                      if r.get("logger") == "hub.delivery" and r.get("message") == "delivered")
        journalled[hub.name] = hub_journalled(hub)
    share = {name: sum(c.values()) for name, c in processed.items()}
    log(f"{COUNT} messages through 2 processes on PostgreSQL in {elapsed:.0f} s ({COUNT / elapsed:.1f} msg/s); "
        f"processed per process {share}, delivered per process "
        f"{ {n: sum(c.values()) for n, c in delivered.items()} }, journalled per process {journalled}")
    a, b = (processed[h.name] for h in hubs)
    assert all(n == 1 for n in (a + b).values()), "a message was processed twice"
    assert set(a) | set(b) == {r["id"] for r in view.rows}, "a message was processed by nobody"
    assert a and b, f"one process did all the work: {share}"
    da, db = (delivered[h.name] for h in hubs)
    assert all(n == 1 for n in (da + db).values()), "a delivery was sent twice"
    assert sum((da + db).values()) == len(view.deliveries)
    assert all(n == 1 for n in collector.arrived.values())


def hub_journalled(hub: HubProcess) -> int:
    """hub_intake_journalled from the process's /metrics."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{hub.home.http_port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("hub_intake_journalled_total ") or line.startswith("hub_intake_journalled "):
                return int(float(line.split()[1]))
    return -1
