"""A destination down for longer than the retry budget: the delivery is dead-lettered with its reason,
and `hub outbox replay --all-dead` delivers it once the destination is back."""

from __future__ import annotations

import time
from pathlib import Path

from tests.faults.conftest import (
    Collector,
    ConfirmingPublisher,
    HubHome,
    HubProcess,
    Queues,
    check_arrived,
    log,
    partners_yaml,
    read_store,
    traffic,
    wait_drained,
    wait_until,
)


def test_unroutable_destination_is_dead_lettered_then_replayed(
        tmp_path: Path, queues: Queues, hubs: list[HubProcess]) -> None:
    count = 8
    msgs = traffic.messages(count, 4)
    bodies = [m.body for m in msgs]
    queues.declare_inbound()  # not the destination: PORT's routing key has no queue, so it is unroutable
    home = HubHome.make(tmp_path / "home", partners_yaml(queues.prefix),
                        toml_extra="[delivery]\nmax_age_s = 3\ninitial_backoff_s = 1\nmax_backoff_s = 2\n")
    hub = HubProcess(home)
    hubs.append(hub)
    hub.start()
    hub.wait_healthy()
    t0 = time.monotonic()
    publisher = ConfirmingPublisher([(queues.inbound[m.partner], m.body) for m in msgs])
    publisher.start()
    publisher.join(60)
    assert publisher.error is None

    def dead() -> int:
        return sum(1 for d in read_store(home.database_url).deliveries if d["status"] == "dead")

    assert wait_until(lambda: dead() == count, 120, 0.5), read_store(home.database_url).deliveries
    log(f"{count} deliveries dead after {time.monotonic() - t0:.1f} s")
    view = read_store(home.database_url)
    assert {r["status"] for r in view.rows} == {"routed"}
    for d in view.deliveries:
        assert d["partner"] == "PORT"
        assert d["attempts"] >= 2
        reason = d["last_error"] or ""
        assert reason.startswith("dead after "), reason
        assert "budget 3 s" in reason, reason
        assert "unroutable" in reason and queues.out in reason, reason
    listed = home.cli("outbox", "dead")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("dead ") >= count and "unroutable" in listed.stdout, listed.stdout
    assert hub.health()["outbox"] == {"pending": 0, "delivered": 0, "dead": count}  # type: ignore[index]

    # The destination is back; nothing moves by itself ...
    queues.declare_out()
    collector = Collector(queues.out)
    collector.start()
    assert collector.connected.wait(10)
    time.sleep(3)
    assert collector.distinct() == 0
    # ... until an operator replays the dead deliveries.
    replay = home.cli("outbox", "replay", "--all-dead")
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout.count("queued for delivery now") == count, replay.stdout
    t1 = time.monotonic()
    wait_drained(home.database_url, count, 60, [hub])
    assert wait_until(lambda: collector.distinct() == count, 30)
    log(f"replayed and delivered {count} in {time.monotonic() - t1:.1f} s")
    collector.stop()
    assert not check_arrived(collector, bodies)
    assert all(n == 1 for n in collector.arrived.values())
    after = read_store(home.database_url)
    assert {d["status"] for d in after.deliveries} == {"delivered"}
    assert all(d["last_error"] is None for d in after.deliveries)
