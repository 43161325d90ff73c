"""Helpers for the tests against a real RabbitMQ: reachability, unique queues, raw publishing and
reading, closing chosen connections with rabbitmqctl, waiting for a condition."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]

AMQP_URL = os.environ.get("HUB_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def broker_problem(url: str = AMQP_URL) -> str | None:
    """None if a connection to the broker opens, else why not."""
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = 2.0
    params.stack_timeout = 3.0
    try:
        pika.BlockingConnection(params).close()
    except Exception as exc:  # any failure means: no broker to test against
        return f"RabbitMQ not reachable at {url}: {type(exc).__name__}: {exc}"
    return None


def rabbitmqctl_problem() -> str | None:
    if shutil.which("rabbitmqctl") is None:
        return "rabbitmqctl is not on PATH (needed to close connections or restart the broker)"
    return None


def unique_name(prefix: str = "test.amqp") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}"


@contextmanager
def connection(url: str = AMQP_URL) -> Iterator[Any]:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        yield conn
    finally:
        if conn.is_open:
            conn.close()


def delete_queues(names: list[str], url: str = AMQP_URL) -> None:
    with connection(url) as conn:
        for name in names:
            channel = conn.channel()
            try:
                channel.queue_delete(name)
            except pika.exceptions.ChannelClosedByBroker:
                pass
            if channel.is_open:
                channel.close()


def declare_quorum(name: str, url: str = AMQP_URL) -> None:
    with connection(url) as conn:
        conn.channel().queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})


def publish_raw(queue: str, bodies: list[bytes], *, url: str = AMQP_URL, headers: dict[str, Any] | None = None,
                message_ids: list[str] | None = None) -> None:
    """Publish to the default exchange, persistent, with confirms (the way partners should)."""
    with connection(url) as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        for i, body in enumerate(bodies):
            props = pika.BasicProperties(
                delivery_mode=2,
                headers=headers,
                message_id=message_ids[i] if message_ids else None,
                content_type="application/edifact",
            )
            channel.basic_publish("", queue, body, props, mandatory=True)


def get_all(queue: str, url: str = AMQP_URL) -> list[tuple[Any, Any, bytes]]:
    """Take (and ack) every message waiting in a queue: (method, properties, body) each."""
    got = []
    with connection(url) as conn:
        channel = conn.channel()
        while True:
            method, props, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return got
            got.append((method, props, body))


def ready_count(queue: str, url: str = AMQP_URL) -> int:
    """Messages ready in the queue (not delivered to a consumer), exact from queue.declare-ok."""
    with connection(url) as conn:
        return int(conn.channel().queue_declare(queue, passive=True).method.message_count)


def rabbitmqctl(*args: str, timeout: float = 60.0) -> str:
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=timeout, check=True)
    return done.stdout


def close_connections_named(connection_name: str, reason: str = "test: dropped on purpose") -> int:
    """Close, from the broker side, every connection whose client-given name is `connection_name`.
    Returns how many were closed. Other users' connections are left alone."""
    listing = rabbitmqctl("list_connections", "-q", "--no-table-headers", "pid", "client_properties")
    marker = f'{{"connection_name","{connection_name}"}}'
    closed = 0
    for line in listing.splitlines():
        pid, _, props = line.partition("\t")
        if marker in props:
            try:
                rabbitmqctl("close_connection", pid, reason)
                closed += 1
            except subprocess.CalledProcessError:
                pass  # gone already
    return closed


def queue_info(queue: str) -> str:
    """The `rabbitmqctl list_queues` line for a queue: name, type and arguments."""
    for line in rabbitmqctl("list_queues", "-q", "--no-table-headers", "name", "type", "arguments").splitlines():
        if line.split("\t", 1)[0] == queue:
            return line
    return ""


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Recorder:
    """A handler that journals into memory: thread-safe, counts calls and sizes."""

    def __init__(self, verdict: Callable[[Any], str | None] | None = None) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.sizes: list[int] = []
        self.seen: list[Any] = []  # every message handed over, in order (redeliveries included)
        self.verdict = verdict

    def __call__(self, batch: list[Any]) -> list[str | None]:
        with self.lock:
            self.calls += 1
            self.sizes.append(len(batch))
            self.seen.extend(batch)
        return [self.verdict(m) if self.verdict else None for m in batch]

    def bodies(self) -> set[bytes]:
        with self.lock:
            return {m.body for m in self.seen}

    def count(self) -> int:
        with self.lock:
            return len(self.seen)
