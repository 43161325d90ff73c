"""The outbox worker sends a leased batch with several threads, each with a publisher of its own."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from hub.config import Settings
from hub.delivery import Deliverer
from hub.partners import Partners
from hub.store import Store


class FakePublisher:
    """Records which threads used it and how many publishes were in flight at once (all publishers)."""

    lock = threading.Lock()
    in_flight = 0
    most_at_once = 0

    def __init__(self, arrived: list[str], release: threading.Event) -> None:
        self.arrived, self.release = arrived, release
        self.threads: set[int] = set()
        self.closed = False

    def publish(self, exchange: str, routing_key: str, body: bytes, **_: Any) -> None:
        self.threads.add(threading.get_ident())
        cls = FakePublisher
        with cls.lock:
            cls.in_flight += 1
            cls.most_at_once = max(cls.most_at_once, cls.in_flight)
        self.release.wait(0.05)  # a confirm takes a while: the others may start meanwhile
        with cls.lock:
            cls.in_flight -= 1
            self.arrived.append(body.decode())

    def close(self) -> None:
        self.closed = True


def outbox(store: Store, n: int) -> None:
    with store.transaction() as tx:
        for i in range(n):
            tx.enqueue_delivery(message_id=None, purpose=f"test:{i}", partner="DEST", channel="amqp",
                                target={"routing_key": "dest.in"}, kind="original", filename=f"{i}.edi",
                                payload=str(i).encode())


def test_a_batch_is_published_by_several_threads_each_with_its_own_publisher(
        store: Store, tmp_path: Path) -> None:
    settings = replace(Settings.defaults(tmp_path), delivery_senders=4)
    arrived: list[str] = []
    made: list[FakePublisher] = []

    def factory() -> FakePublisher:
        made.append(FakePublisher(arrived, threading.Event()))
        return made[-1]

    FakePublisher.in_flight = FakePublisher.most_at_once = 0
    outbox(store, 12)
    deliverer = Deliverer(store, lambda: Partners([]), settings, worker="d", publisher_factory=factory)
    assert deliverer.run_once() == 12
    assert sorted(arrived, key=int) == [str(i) for i in range(12)]
    assert deliverer.delivered == 12
    assert 1 < FakePublisher.most_at_once <= 4
    assert 1 < len(made) <= 4
    assert all(len(p.threads) == 1 for p in made)  # a publisher (a pika connection) stays on its thread
    assert len({t for p in made for t in p.threads}) == len(made)
    deliverer.close()
    assert all(p.closed for p in made)
    with store.transaction() as tx:
        assert tx.claim_deliveries("other", limit=50) == []  # all marked delivered


def test_one_sender_publishes_one_at_a_time(store: Store, tmp_path: Path) -> None:
    settings = replace(Settings.defaults(tmp_path), delivery_senders=1)
    arrived: list[str] = []
    FakePublisher.in_flight = FakePublisher.most_at_once = 0
    outbox(store, 5)
    deliverer = Deliverer(store, lambda: Partners([]), settings, worker="d",
                          publisher_factory=lambda: FakePublisher(arrived, threading.Event()))
    assert deliverer.run_once() == 5
    assert FakePublisher.most_at_once == 1
    assert arrived == [str(i) for i in range(5)]  # in the order they were made
    deliverer.close()
