"""The AMQP adapter against a real RabbitMQ (skipped when none is reachable).

Every test uses queues of its own (random names) and deletes them, with their dead-letter queues,
afterwards. Broker-side connection drops touch only the connections the test itself opened (found by
their client-given name), so other users of the same broker are not disturbed."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adapters.amqp import (
    AmqpMessage,
    BrokerUnavailable,
    Consumer,
    NotConfirmed,
    Publisher,
    Unroutable,
)
from tests.adapters.amqp_helpers import (
    AMQP_URL,
    Recorder,
    broker_problem,
    close_connections_named,
    connection,
    declare_quorum,
    delete_queues,
    get_all,
    publish_raw,
    queue_info,
    rabbitmqctl,
    rabbitmqctl_problem,
    ready_count,
    unique_name,
    wait_until,
)

_problem = broker_problem()
pytestmark = pytest.mark.skipif(_problem is not None, reason=_problem or "")

needs_rabbitmqctl = pytest.mark.skipif(rabbitmqctl_problem() is not None, reason=rabbitmqctl_problem() or "")


@pytest.fixture
def queues() -> Iterator[Callable[[], str]]:
    """A factory of unique queue names; each queue and its `.dead` queue are deleted after the test."""
    made: list[str] = []

    def make() -> str:
        name = unique_name()
        made.append(name)
        return name

    yield make
    delete_queues([n for name in made for n in (name, name + ".dead")])


def bodies(n: int, tag: str = "m") -> list[bytes]:
    return [f"UNB+UNOC:3+{tag}{i:06d}'".encode() for i in range(n)]


class Running:
    """A consumer running in its thread for the duration of a `with` block."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer

    def __enter__(self) -> Consumer:
        self.consumer.start()
        assert wait_until(lambda: self.consumer.connected, 10), "consumer did not connect"
        return self.consumer

    def __exit__(self, *exc: object) -> None:
        self.consumer.stop(timeout=15)


# -- consuming ------------------------------------------------------------------------------------------


def test_amqp_every_message_handled_and_acked_only_after_the_handler_returned(queues: Callable[[], str]) -> None:
    queue = queues()
    total = 600
    acked_at_call: list[tuple[int, int]] = []
    recorder = Recorder()
    consumer: Consumer

    def handle(batch: list[AmqpMessage]) -> list[str | None]:
        # What the consumer had acked when this batch arrived: exactly what earlier calls returned.
        acked_at_call.append((consumer.stats.acked, recorder.count()))
        return recorder(batch)

    consumer = Consumer(AMQP_URL, [queue], handle, name=unique_name("hub-test"))
    with Running(consumer):
        publish_raw(queue, bodies(total))
        assert wait_until(lambda: recorder.count() >= total)
        assert wait_until(lambda: consumer.stats.acked == total, 5)
    assert recorder.bodies() == set(bodies(total))
    assert all(acked == handled for acked, handled in acked_at_call)
    assert recorder.calls < total  # batched
    assert ready_count(queue) == 0  # nothing came back when the consumer's connection closed
    stats = consumer.stats
    assert (stats.consumed, stats.acked, stats.dead_lettered) == (600, 600, 0)
    assert all(not m.redelivered and m.queue == queue for m in recorder.seen)


@needs_rabbitmqctl
def test_amqp_a_batch_is_not_acked_before_the_handler_returns(queues: Callable[[], str]) -> None:
    """The broker proves it: drop the connection while the handler holds a batch, let the handler return,
    and the same messages are delivered again (had they been acked, they would be gone)."""
    queue = queues()
    name = unique_name("hub-test")
    in_handler, release = threading.Event(), threading.Event()
    recorder = Recorder()

    def handle(batch: list[AmqpMessage]) -> list[str | None]:
        if recorder.calls == 0:
            in_handler.set()
            release.wait(20)
        return recorder(batch)

    consumer = Consumer(AMQP_URL, [queue], handle, name=name, batch_wait=0.2)
    with Running(consumer):
        publish_raw(queue, bodies(20))
        assert in_handler.wait(10)
        assert close_connections_named(f"{name}-consumer") == 1
        release.set()
        assert wait_until(lambda: consumer.stats.reconnects >= 1 and len(recorder.bodies()) == 20, 30)
        assert wait_until(lambda: any(m.redelivered for m in recorder.seen), 10)
    first = recorder.seen[: recorder.sizes[0]]
    again = {m.body for m in recorder.seen[recorder.sizes[0]:] if m.redelivered}
    assert {m.body for m in first} <= again
    assert ready_count(queue) == 0


def test_amqp_handler_failure_loses_nothing_and_retries(queues: Callable[[], str]) -> None:
    queue = queues()
    recorder = Recorder()
    failures = []

    def handle(batch: list[AmqpMessage]) -> list[str | None]:
        if not failures:
            failures.append(len(batch))
            raise ConnectionError("database is down")
        return recorder(batch)

    consumer = Consumer(AMQP_URL, [queue], handle, name=unique_name("hub-test"), batch_wait=0.1)
    with Running(consumer):
        publish_raw(queue, bodies(50))
        assert wait_until(lambda: len(recorder.bodies()) == 50, 20)
        assert wait_until(lambda: consumer.stats.acked == 50, 5)
    assert failures and failures[0] >= 1
    assert consumer.stats.handler_failures == 1
    assert consumer.stats.dead_lettered == 0
    assert ready_count(queue) == 0
    assert ready_count(queue + ".dead") == 0
    # The failed batch was held and handed over again, not returned to the broker.
    assert recorder.count() == 50


def test_amqp_poison_goes_to_the_dead_letter_queue_with_its_reason(queues: Callable[[], str]) -> None:
    queue = queues()
    recorder = Recorder(lambda m: "UNB segment missing" if m.body.startswith(b"junk") else None)
    consumer = Consumer(AMQP_URL, [queue], recorder, name=unique_name("hub-test"))
    with Running(consumer):
        publish_raw(queue, [b"junk-1"], headers={"x-partner": "MAERSK"}, message_ids=["id-poison"])
        publish_raw(queue, bodies(5))
        assert wait_until(lambda: consumer.stats.acked == 6, 10)
        time.sleep(0.5)  # would a loop show up?
    assert consumer.stats.dead_lettered == 1
    assert [m.body for m in recorder.seen].count(b"junk-1") == 1
    assert ready_count(queue) == 0
    dead = get_all(queue + ".dead")
    assert len(dead) == 1
    _method, props, body = dead[0]
    assert body == b"junk-1"
    assert props.headers["x-hub-reason"] == "UNB segment missing"
    assert props.headers["x-hub-original-queue"] == queue
    assert props.headers["x-partner"] == "MAERSK"
    assert props.message_id == "id-poison"
    assert props.content_type == "application/edifact"
    assert props.delivery_mode == 2


@needs_rabbitmqctl
def test_amqp_declares_quorum_queues_that_dead_letter_after_the_delivery_limit(queues: Callable[[], str]) -> None:
    queue = queues()
    consumer = Consumer(AMQP_URL, [queue], Recorder(), name=unique_name("hub-test"), delivery_limit=3)
    with Running(consumer):
        pass
    info = queue_info(queue)
    assert "\tquorum\t" in info
    assert '{"x-delivery-limit",3}' in info.replace(" ", "")
    assert f'{{"x-dead-letter-routing-key","{queue}.dead"}}' in info
    assert "\tquorum\t" in queue_info(queue + ".dead")


def test_amqp_existing_queue_with_other_arguments_is_used_as_is(
    queues: Callable[[], str], caplog: pytest.LogCaptureFixture
) -> None:
    queue = queues()
    declare_quorum(queue)  # quorum, but without the hub's delivery limit and dead-lettering
    recorder = Recorder()
    consumer = Consumer(AMQP_URL, [queue], recorder, name=unique_name("hub-test"))
    with caplog.at_level(logging.WARNING, logger="adapters.amqp"), Running(consumer):
        publish_raw(queue, bodies(3))
        assert wait_until(lambda: consumer.stats.acked == 3, 10)
    assert any("exists with other arguments" in r.getMessage() for r in caplog.records)


def test_amqp_missing_queue_without_declare_is_waited_for(queues: Callable[[], str]) -> None:
    queue = queues()
    recorder = Recorder()
    consumer = Consumer(AMQP_URL, [queue], recorder, name=unique_name("hub-test"), declare=False,
                        refresh_interval=0.2)
    with Running(consumer):
        time.sleep(0.3)
        declare_quorum(queue)
        publish_raw(queue, bodies(3))
        assert wait_until(lambda: consumer.stats.acked == 3, 10)


def test_amqp_queue_list_is_followed_at_runtime(queues: Callable[[], str]) -> None:
    first, second = queues(), queues()
    listed = [first]
    recorder = Recorder()
    consumer = Consumer(AMQP_URL, lambda: list(listed), recorder, name=unique_name("hub-test"),
                        refresh_interval=0.2)
    with Running(consumer):
        publish_raw(first, [b"one"])
        assert wait_until(lambda: recorder.bodies() == {b"one"}, 10)
        listed.append(second)
        assert wait_until(lambda: queue_exists(second), 10)
        publish_raw(second, [b"two"])
        assert wait_until(lambda: recorder.bodies() == {b"one", b"two"}, 10)
        listed.remove(first)
        time.sleep(0.6)
        publish_raw(first, [b"three"])
        time.sleep(0.6)
        assert b"three" not in recorder.bodies()
    assert ready_count(first) == 1


def queue_exists(name: str) -> bool:
    try:
        ready_count(name)
    except Exception:
        return False
    return True


def test_amqp_competing_consumers_share_a_queue(queues: Callable[[], str]) -> None:
    """Scale-out: two hub processes on one queue each take a share; together they take everything."""
    queue = queues()
    first, second = Recorder(), Recorder()

    def slow(recorder: Recorder) -> Callable[[list[AmqpMessage]], list[str | None]]:
        def handle(batch: list[AmqpMessage]) -> list[str | None]:
            time.sleep(0.01)
            return recorder(batch)

        return handle

    a = Consumer(AMQP_URL, [queue], slow(first), name=unique_name("hub-a"), prefetch=16, batch_max=8)
    b = Consumer(AMQP_URL, [queue], slow(second), name=unique_name("hub-b"), prefetch=16, batch_max=8)
    with Running(a), Running(b):
        publish_raw(queue, bodies(400))
        assert wait_until(lambda: first.count() + second.count() >= 400, 30)
    assert first.count() > 0 and second.count() > 0
    assert first.bodies() | second.bodies() == set(bodies(400))
    assert not first.bodies() & second.bodies()
    assert ready_count(queue) == 0


@needs_rabbitmqctl
def test_amqp_consumer_survives_connections_dropped_mid_load(queues: Callable[[], str]) -> None:
    queue = queues()
    name = unique_name("hub-test")
    recorder = Recorder()
    total = 3000

    def handle(batch: list[AmqpMessage]) -> list[str | None]:
        time.sleep(0.005)  # a journal commit
        return recorder(batch)

    consumer = Consumer(AMQP_URL, [queue], handle, name=name, prefetch=64, batch_max=32)
    with Running(consumer):
        publisher = threading.Thread(target=publish_raw, args=(queue, bodies(total)))
        publisher.start()
        for k, drop in enumerate((300, 1200), 1):
            assert wait_until(lambda d=drop: recorder.count() >= d, 30)  # type: ignore[misc]
            # rabbitmqctl may not list a connection yet (once it listed none): ask again for a while
            assert wait_until(lambda: close_connections_named(f"{name}-consumer") == 1, 10, interval=0.5)
            # connected again: a new connection (`connected` alone may still tell of the one just closed)
            assert wait_until(lambda k=k: consumer.stats.reconnects == k and consumer.connected, 30)  # type: ignore[misc]
        publisher.join(60)
        assert wait_until(lambda: len(recorder.bodies()) == total, 60), f"{len(recorder.bodies())} of {total}"
        assert wait_until(lambda: ready_count(queue) == 0, 10)
    assert consumer.stats.reconnects == 2
    assert recorder.bodies() == set(bodies(total))  # every message journalled at least once
    assert ready_count(queue) == 0
    assert ready_count(queue + ".dead") == 0


def test_amqp_consumer_without_broker_keeps_trying_and_stops_promptly() -> None:
    consumer = Consumer(closed_port_url(), ["never"], Recorder(), name=unique_name("hub-test"))
    consumer.start()
    time.sleep(1.5)
    assert not consumer.connected
    started = time.monotonic()
    consumer.stop(timeout=5)
    assert time.monotonic() - started < 5


@pytest.mark.slow
@needs_rabbitmqctl
@pytest.mark.skipif(
    os.environ.get("HUB_TEST_BROKER_RESTART") != "1",
    reason="restarts the shared RabbitMQ node; set HUB_TEST_BROKER_RESTART=1 to run",
)
def test_amqp_consumer_survives_a_broker_restart(queues: Callable[[], str]) -> None:
    queue = queues()
    recorder = Recorder()
    consumer = Consumer(AMQP_URL, [queue], recorder, name=unique_name("hub-test"))
    with Running(consumer):
        publish_raw(queue, bodies(200, "a"))
        assert wait_until(lambda: len(recorder.bodies()) == 200, 20)
        try:
            rabbitmqctl("stop_app")
            assert wait_until(lambda: not consumer.connected, 20)
            time.sleep(2)
        finally:
            rabbitmqctl("start_app")
            rabbitmqctl("await_startup", timeout=120)
        assert wait_until(lambda: broker_problem() is None, 60)
        assert wait_until(lambda: consumer.connected, 60)
        publish_raw(queue, bodies(200, "b"))
        assert wait_until(lambda: len(recorder.bodies()) == 400, 30)
    assert consumer.stats.reconnects >= 1
    assert ready_count(queue) == 0


# -- publishing -----------------------------------------------------------------------------------------


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"amqp://guest:guest@127.0.0.1:{port}/%2F"


def test_amqp_publisher_round_trip_is_persistent_and_confirmed(queues: Callable[[], str]) -> None:
    queue = queues()
    declare_quorum(queue)
    with Publisher(AMQP_URL) as publisher:
        for i in range(3):
            publisher.publish("", queue, b"APERAK %d" % i, headers={"x-hub-dossier": "D-1"}, message_id=f"m{i}",
                              correlation_id="c-1", content_type="application/edifact")
    got = get_all(queue)
    assert [body for _m, _p, body in got] == [b"APERAK 0", b"APERAK 1", b"APERAK 2"]
    props: Any = got[0][1]
    assert props.delivery_mode == 2
    assert props.headers["x-hub-dossier"] == "D-1"
    assert (props.message_id, props.correlation_id, props.content_type) == ("m0", "c-1", "application/edifact")


def test_amqp_publisher_unroutable_raises_with_a_reason(queues: Callable[[], str]) -> None:
    queue = queues()
    declare_quorum(queue)
    nowhere = unique_name("test.amqp.nowhere")
    with Publisher(AMQP_URL) as publisher:
        with pytest.raises(Unroutable) as caught:
            publisher.publish("", nowhere, b"x")
        assert nowhere in str(caught.value)
        with pytest.raises(Unroutable):
            publisher.publish(unique_name("no.such.exchange"), "rk", b"x")
        publisher.publish("", queue, b"still fine")  # the publisher recovers from both
    assert [b for _m, _p, b in get_all(queue)] == [b"still fine"]


def test_amqp_publisher_without_broker_fails_fast() -> None:
    publisher = Publisher(closed_port_url())
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        publisher.publish("", "q", b"x")
    assert time.monotonic() - started < 3
    publisher.close()


@needs_rabbitmqctl
def test_amqp_publisher_reconnects_after_losing_its_connection(queues: Callable[[], str]) -> None:
    queue = queues()
    declare_quorum(queue)
    name = unique_name("hub-test")
    with Publisher(AMQP_URL, name=name) as publisher:
        publisher.publish("", queue, b"before")
        assert close_connections_named(f"{name}-publisher") == 1
        time.sleep(0.2)
        try:
            publisher.publish("", queue, b"after")
        except NotConfirmed:  # the loss was noticed only by this call; the next one reconnects
            publisher.publish("", queue, b"after")
    assert [b for _m, _p, b in get_all(queue)] == [b"before", b"after"]


def test_amqp_publisher_is_safe_to_share_between_threads(queues: Callable[[], str]) -> None:
    queue = queues()
    declare_quorum(queue)
    with Publisher(AMQP_URL) as publisher:
        threads = [
            threading.Thread(target=lambda t=t: [publisher.publish("", queue, f"{t}-{i}".encode()) for i in range(25)])
            for t in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    with connection() as conn:
        assert conn.channel().queue_declare(queue, passive=True).method.message_count == 100
