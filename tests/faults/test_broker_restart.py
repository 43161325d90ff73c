"""RabbitMQ restarted (`rabbitmqctl stop_app` / `start_app`) while partners publish and the hub consumes
and delivers: nothing is lost. The publishers use confirms and publish again what was not confirmed;
the hub's consumer and publisher reconnect by themselves.

It restarts the shared broker, which interrupts everyone using it: it runs only with
HUB_TEST_BROKER_RESTART=1 (as tests/adapters/test_amqp.py's restart test), and always starts the broker
again (try/finally) and waits until it answers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.adapters.amqp_helpers import broker_problem, rabbitmqctl, rabbitmqctl_problem
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
    progress,
    read_store,
    traffic,
    wait_drained,
    wait_until,
)

COUNT = int(os.environ.get("HUB_FAULT_BROKER_COUNT", "600"))


@pytest.mark.slow
@pytest.mark.skipif(rabbitmqctl_problem() is not None, reason=rabbitmqctl_problem() or "")
@pytest.mark.skipif(os.environ.get("HUB_TEST_BROKER_RESTART") != "1",
                    reason="restarts the shared RabbitMQ node; set HUB_TEST_BROKER_RESTART=1 to run")
def test_broker_restart_mid_load_loses_nothing(tmp_path: Path, queues: Queues, hubs: list[HubProcess]) -> None:
    msgs = traffic.messages(COUNT, max(1, COUNT // 8))
    bodies = [m.body for m in msgs]
    queues.declare_inbound()
    queues.declare_out()
    home = HubHome.make(tmp_path / "home", partners_yaml(queues.prefix),
                        toml_extra="[delivery]\ninitial_backoff_s = 1\nmax_backoff_s = 5\n")
    hub = HubProcess(home)
    hubs.append(hub)
    hub.start()
    hub.wait_healthy()
    collector = Collector(queues.out)
    collector.start()
    assert collector.connected.wait(10)

    t0 = time.monotonic()
    # Paced so that the restart falls in the middle of publishing (about 10 s for 600).
    publisher = ConfirmingPublisher([(queues.inbound[m.partner], m.body) for m in msgs], pace=COUNT and 10 / COUNT)
    publisher.start()
    assert wait_until(lambda: publisher.confirmed >= COUNT // 3, 60)
    journalled, backlog, pending = progress(home.database_url)
    log(f"stopping RabbitMQ: published {publisher.confirmed}, journalled {journalled}, backlog {backlog}, "
        f"arrived {collector.distinct()}")
    t_stop = time.time()
    try:
        rabbitmqctl("stop_app")
        assert wait_until(lambda: hub.health() is not None and hub.health().get("amqp") != "connected", 30)  # type: ignore[union-attr]
        time.sleep(3)
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup", timeout=120)
        assert wait_until(lambda: broker_problem() is None, 60, 0.5)
    t_back = time.time()
    log(f"RabbitMQ back after {t_back - t_stop:.1f} s")
    hub.wait_healthy(90)
    publisher.join(300)
    assert publisher.error is None, publisher.error
    log(f"publisher: {publisher.confirmed} confirmed, {len(publisher.republished)} published again after "
        f"failures {publisher.failures[:2]}")
    wait_drained(home.database_url, COUNT, 600, [hub])
    assert wait_until(lambda: collector.distinct() >= COUNT, 120), f"{collector.distinct()}/{COUNT} arrived"
    elapsed = time.monotonic() - t0
    collector.stop()
    log(f"{COUNT} messages through a broker restart in {elapsed:.0f} s ({COUNT / elapsed:.1f} msg/s)")

    view = read_store(home.database_url)
    problems = check_exactly_once(view, bodies, redelivery_windows=[(t_stop, t_back)],
                                  republished=publisher.republished)
    problems += check_arrived(collector, bodies)
    assert not problems, problems
    # A duplicate is either a body the publisher sent twice or one the broker delivered again.
    print(f"duplicates journalled: {len(view.duplicates())}; collector reconnects {collector.reconnects}")
    assert all(n == 0 for n in queues.dead_depths().values()), queues.dead_depths()
