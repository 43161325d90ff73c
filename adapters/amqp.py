"""AMQP (RabbitMQ) intake consumer and delivery publisher, on pika's BlockingConnection.

Intake: `Consumer` reads the partners' inbound queues, hands batches of deliveries to a handler that
journals them, and acknowledges each delivery only after the handler returned (persist before
acknowledge). A delivery the handler calls poison is republished to `<queue>.dead` with the reason,
with publisher confirms, and only then acknowledged. The consumer reconnects forever, with capped
exponential back-off, when the broker goes away.

Delivery: `Publisher` publishes persistent messages with publisher confirms and `mandatory`, and turns
the broker's answers into three exceptions the outbox can act on.

Threading: a pika BlockingConnection belongs to the thread that uses it. The consumer keeps its
connection inside its own thread (`run`, or `start`/`stop`); a publisher is used by one thread at a
time (a lock serialises callers, so sharing one is safe but not concurrent).

The operator's view (queues, dead letters, reconnection, scale-out) is in docs/amqp.md.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_when_event_set,
    wait_exponential,
    wait_random,
)

log = logging.getLogger(__name__)

__all__ = [
    "AmqpError",
    "AmqpMessage",
    "BrokerUnavailable",
    "Consumer",
    "ConsumerStats",
    "Handler",
    "NotConfirmed",
    "Publisher",
    "Unroutable",
    "dead_letter_queue_arguments",
    "inbound_queue_arguments",
]

# AMQP reply codes the adapter reacts to.
_NOT_FOUND = 404
_PRECONDITION_FAILED = 406

# Back-off between reconnections and between handler retries: 0.5 s, 1 s, 2 s, ... capped at 30 s,
# plus up to 1 s of random jitter so that many hub processes do not reconnect in lockstep.
_BACKOFF_INITIAL = 0.5
_BACKOFF_MAX = 30.0
_BACKOFF_JITTER = 1.0

# How long a dead-letter publish may wait for its confirm; past it the connection is dropped and
# the broker redelivers the batch's unacked messages.
_DEAD_LETTER_CONFIRM_TIMEOUT = 30.0

# A connection that stayed up this long counts as healthy: when it breaks, the back-off starts afresh.
_HEALTHY_AFTER = 10.0


class AmqpError(Exception):
    """Base of the errors this adapter raises."""


class Unroutable(AmqpError):
    """The broker could not route the message: no queue is bound for that exchange and routing key, or
    the exchange does not exist. The message is a sentence fit for a dead-letter record."""


class NotConfirmed(AmqpError):
    """The broker did not confirm the message (it nacked it, the confirm did not come in time, or the
    connection broke before it came): the message may or may not be stored; publish it again."""


class BrokerUnavailable(AmqpError):
    """No connection to the broker could be opened."""


@dataclass(frozen=True)
class AmqpMessage:
    """One delivery from an inbound queue, as the handler sees it."""

    queue: str
    body: bytes
    headers: dict[str, Any]
    message_id: str | None
    correlation_id: str | None
    reply_to: str | None
    app_id: str | None
    user_id: str | None  # set only when the publisher set it; RabbitMQ checks it is the connection's user
    content_type: str | None
    redelivered: bool
    delivery_tag: int


Handler = Callable[[list[AmqpMessage]], list[str | None]]
"""Journal each message of the batch durably, then return per message, in order, None (journalled: the
consumer acks it) or a reason (poison: the consumer dead-letters it with that reason, then acks it).
Raising means a transient failure: nothing of the batch is acked and the batch is retried."""


@dataclass
class ConsumerStats:
    consumed: int = 0  # deliveries received from the broker (redeliveries count again)
    acked: int = 0  # deliveries acknowledged (journalled or dead-lettered)
    dead_lettered: int = 0  # deliveries republished to <queue><suffix> because the handler named a reason
    requeued: int = 0  # poison deliveries returned to their queue because dead-lettering them failed
    handler_failures: int = 0  # handler calls that raised (each is retried)
    reconnects: int = 0  # connections opened after the first one


def inbound_queue_arguments(
    queue: str, *, dead_letter_suffix: str = ".dead", delivery_limit: int = 5
) -> dict[str, Any]:
    """The arguments an inbound queue is declared with: a quorum queue whose messages are dead-lettered
    by the broker, at least once, to `<queue><suffix>` after `delivery_limit` returns (a message that
    keeps crashing the consumer ends there instead of looping)."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue + dead_letter_suffix,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",  # required by at-least-once dead-lettering
    }


def dead_letter_queue_arguments() -> dict[str, Any]:
    return {"x-queue-type": "quorum"}


def _connection_parameters(url: str, connection_name: str, **defaults: Any) -> Any:
    """pika parameters from an amqp:// URL, naming the connection (visible in `rabbitmqctl
    list_connections client_properties` and in the management UI). `defaults` apply unless the URL's
    query string sets the same option."""
    params = pika.URLParameters(url)
    query = url.partition("?")[2]
    for option, value in defaults.items():
        if option + "=" not in query:
            setattr(params, option, value)
    params.client_properties = {"connection_name": connection_name, "product": "portnet-hub"}
    return params


class _Deadline(Exception):
    """Raised from a pika I/O-loop timer to abandon a blocking call that waits too long."""


def _with_deadline(connection: Any, seconds: float, call: Callable[[], Any]) -> Any:
    """Run a blocking pika call, raising _Deadline if it has not returned after `seconds`.

    BlockingChannel.basic_publish waits for the publisher confirm without a time limit (a quorum queue
    that lost its majority never confirms). Its wait loop runs the connection's I/O loop timers, so a
    timer that raises ends the wait; the connection is then unusable and must be discarded. This relies
    on pika's internal `_impl.ioloop` (pika 1.x); without it the call runs without a deadline."""
    ioloop = getattr(getattr(connection, "_impl", None), "ioloop", None)
    if ioloop is None:
        return call()

    def expire() -> None:
        raise _Deadline(f"no answer from the broker within {seconds:g} s")

    timer = ioloop.call_later(seconds, expire)
    try:
        return call()
    finally:
        try:
            ioloop.remove_timeout(timer)
        except Exception:  # the timer fired, or the loop is gone with the connection
            pass


def _close_quietly(connection: Any, seconds: float = 2.0) -> None:
    if connection is None:
        return
    try:
        if connection.is_open:
            _with_deadline(connection, seconds, connection.close)
    except Exception:  # closing a broken connection: nothing left to save
        log.debug("error while closing an AMQP connection", exc_info=True)


def _wait_for(stop: threading.Event, seconds: float) -> None:
    stop.wait(seconds)


def _backoff() -> Any:
    return wait_exponential(multiplier=_BACKOFF_INITIAL, max=_BACKOFF_MAX) + wait_random(0, _BACKOFF_JITTER)


# --------------------------------------------------------------------------------------------------
# Intake
# --------------------------------------------------------------------------------------------------


@dataclass
class _Delivery:
    message: AmqpMessage
    properties: Any  # pika.BasicProperties, kept to republish a poison message with its properties


@dataclass
class _Session:
    """What lives exactly as long as one connection."""

    connection: Any
    channel: Any  # consumes and acks
    dead_letter_channel: Any  # publishes poison messages, in confirm mode
    declare_channel: Any = None  # declares queues; a failed declaration closes it, not `channel`
    consumers: dict[str, str] = field(default_factory=dict)  # queue -> consumer tag
    cancelled: set[str] = field(default_factory=set)  # consumer tags the broker cancelled
    pending: list[_Delivery] = field(default_factory=list)  # delivered, not yet handed to the handler
    first_pending_at: float = 0.0
    warned: set[str] = field(default_factory=set)
    connected_at: float = 0.0
    dead_letter_failures: int = 0  # consecutive poison messages that could not be dead-lettered
    handler_retrying: Retrying | None = None  # built on the first batch, reused for the next ones


class _HandlerFailed(Exception):
    """The handler raised (or answered with the wrong number of verdicts): retry the batch."""


class Consumer:
    """Consumes the inbound queues and acknowledges each delivery after the handler journalled it.

    `queues` is a list of queue names or a callable returning one; the callable is read again every
    `refresh_interval` seconds and consumption starts and stops to follow it.
    """

    def __init__(
        self,
        url: str,
        queues: Callable[[], Sequence[str]] | Sequence[str],
        handle: Handler,
        *,
        prefetch: int = 256,
        batch_max: int = 128,
        batch_wait: float = 0.01,
        declare: bool = True,
        dead_letter_suffix: str = ".dead",
        delivery_limit: int = 5,
        name: str = "hub",
        refresh_interval: float = 5.0,
    ) -> None:
        if batch_max < 1 or prefetch < 1:
            raise ValueError("batch_max and prefetch must be at least 1")
        self._url = url
        self._queues = queues
        self._handle = handle
        self._prefetch = prefetch
        self._batch_max = batch_max
        self._batch_wait = batch_wait
        self._declare = declare
        self._suffix = dead_letter_suffix
        self._delivery_limit = delivery_limit
        self._name = name
        self._refresh_interval = refresh_interval
        self._wanted: list[str] = []
        self._stats = ConsumerStats()
        self._connected = False
        self._ever_connected = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- public -------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the consumer has a connection open to the broker (and consumes the queues it could
        declare or find)."""
        return self._connected

    @property
    def stats(self) -> ConsumerStats:
        """A snapshot of the counters."""
        return replace(self._stats)

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, reconnecting forever with back-off. Never raises."""
        while not stop.is_set():
            retrying = Retrying(
                retry=retry_if_exception_type(Exception),
                wait=_backoff(),
                stop=stop_when_event_set(stop),
                sleep=functools.partial(_wait_for, stop),
                before_sleep=self._log_reconnect,
                reraise=True,
            )
            try:
                retrying(self._session, stop)
            except Exception:
                # Only reached when `stop` was set while backing off after a failure.
                log.debug("AMQP consumer %s stopped after a failure", self._name, exc_info=True)
        log.info("AMQP consumer %s stopped", self._name, extra={"consumer": self._name})

    def start(self) -> None:
        """Run the consumer in a background (daemon) thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, args=(self._stop,), name=f"amqp-{self._name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the background thread to finish its batch and stop; wait up to `timeout` seconds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("AMQP consumer %s did not stop within %.1f s", self._name, timeout)
            else:
                self._thread = None

    # -- one connection ------------------------------------------------------------------------------

    def _session(self, stop: threading.Event) -> None:
        """Connect, declare, consume until `stop` is set. Returns normally when stopped, or when a
        connection that had been healthy for a while broke (the caller then reconnects at once, with a
        fresh back-off); raises when connecting failed or the connection broke soon after opening."""
        params = _connection_parameters(self._url, f"{self._name}-consumer", connection_attempts=1, socket_timeout=5.0)
        connection = pika.BlockingConnection(params)
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=self._prefetch)
            dead_letter_channel = connection.channel()
            dead_letter_channel.confirm_delivery()
            session = _Session(connection, channel, dead_letter_channel, connected_at=time.monotonic())
            channel.add_on_cancel_callback(lambda frame: session.cancelled.add(frame.method.consumer_tag))
            self._sync_queues(session)
            if self._ever_connected:
                self._stats.reconnects += 1
            self._ever_connected = True
            self._connected = True
            log.info(
                "AMQP consumer %s connected, consuming %s",
                self._name,
                ", ".join(session.consumers) or "no queue yet",
                extra={"consumer": self._name},
            )
            try:
                self._consume(session, stop)
            except Exception as exc:
                if stop.is_set() or time.monotonic() - session.connected_at < _HEALTHY_AFTER:
                    raise
                log.warning(
                    "AMQP consumer %s lost its connection (%s: %s); reconnecting",
                    self._name,
                    type(exc).__name__,
                    exc,
                    extra={"consumer": self._name},
                )
        finally:
            self._connected = False
            _close_quietly(connection)

    def _log_reconnect(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "AMQP consumer %s: broker unreachable or connection lost (%s: %s); retrying in %.1f s (attempt %d)",
            self._name,
            type(exc).__name__,
            exc,
            delay,
            state.attempt_number,
            extra={"consumer": self._name},
        )

    def _consume(self, session: _Session, stop: threading.Event) -> None:
        connection = session.connection
        next_refresh = time.monotonic() + self._refresh_interval
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_refresh:
                self._sync_queues(session)
                next_refresh = now + self._refresh_interval
            if not session.pending:
                connection.process_data_events(time_limit=min(0.25, max(0.0, next_refresh - now)))
                continue
            # Gather a batch: up to batch_max deliveries, or what came within batch_wait of the first.
            deadline = session.first_pending_at + self._batch_wait
            while len(session.pending) < self._batch_max:
                left = deadline - time.monotonic()
                connection.process_data_events(time_limit=max(0.0, left))
                if left <= 0:
                    break
            self._handle_batch(session, stop)
        self._drain(session, stop)

    def _drain(self, session: _Session, stop: threading.Event) -> None:
        """On stop: cancel the consumers and journal what was already delivered, rather than handing it
        back to the broker (in a quorum queue every return counts towards the delivery limit)."""
        connection = session.connection
        connection.process_data_events(time_limit=0)
        for tag in session.consumers.values():
            if tag not in session.cancelled:
                session.channel.basic_cancel(tag)
        session.consumers.clear()
        while session.pending:
            if not self._handle_batch(session, stop):
                break

    def _on_delivery(self, session: _Session, queue: str, _channel: Any, method: Any, properties: Any,
                     body: bytes) -> None:
        message = AmqpMessage(
            queue=queue,
            body=body,
            headers=dict(properties.headers or {}),
            message_id=properties.message_id,
            correlation_id=properties.correlation_id,
            reply_to=properties.reply_to,
            app_id=properties.app_id,
            user_id=properties.user_id,
            content_type=properties.content_type,
            redelivered=bool(method.redelivered),
            delivery_tag=int(method.delivery_tag),
        )
        if not session.pending:
            session.first_pending_at = time.monotonic()
        session.pending.append(_Delivery(message, properties))
        self._stats.consumed += 1

    # -- queues --------------------------------------------------------------------------------------

    def _wanted_queues(self) -> list[str]:
        if callable(self._queues):
            try:
                queues = list(self._queues())
            except Exception:
                log.exception("AMQP consumer %s: reading the queue list failed; keeping %s", self._name, self._wanted)
                return self._wanted
        else:
            queues = list(self._queues)
        self._wanted = list(dict.fromkeys(queues))
        return self._wanted

    def _sync_queues(self, session: _Session) -> None:
        """Start consuming the queues newly listed, stop consuming those no longer listed."""
        wanted = self._wanted_queues()
        for queue, tag in list(session.consumers.items()):
            if tag in session.cancelled:  # deleted or lost its leader: consume again once it is back
                log.warning("AMQP consumer %s: the broker cancelled consumption of %s", self._name, queue,
                            extra={"queue": queue})
                del session.consumers[queue]
        session.cancelled.clear()
        for queue in [q for q in session.consumers if q not in wanted]:
            session.channel.basic_cancel(session.consumers.pop(queue))
            log.info("AMQP consumer %s stopped consuming %s", self._name, queue, extra={"queue": queue})
        for queue in wanted:
            if queue in session.consumers or not self._ensure_queue(session, queue):
                continue
            session.consumers[queue] = session.channel.basic_consume(
                queue, functools.partial(self._on_delivery, session, queue), auto_ack=False
            )
            log.info("AMQP consumer %s consuming %s", self._name, queue, extra={"queue": queue})

    def _declare_channel(self, session: _Session) -> Any:
        if session.declare_channel is None or not session.declare_channel.is_open:
            session.declare_channel = session.connection.channel()
        return session.declare_channel

    def _ensure_queue(self, session: _Session, queue: str) -> bool:
        """Declare the queue (and its dead-letter queue) or check that it exists. A failed declaration
        closes only the declaring channel, never the consuming one with its unacked deliveries."""
        if self._declare:
            dead = queue + self._suffix
            self._declare_or_accept(session, dead, dead_letter_queue_arguments())
            args = inbound_queue_arguments(queue, dead_letter_suffix=self._suffix, delivery_limit=self._delivery_limit)
            return self._declare_or_accept(session, queue, args)
        return self._exists(session, queue)

    def _declare_or_accept(self, session: _Session, queue: str, arguments: dict[str, Any]) -> bool:
        try:
            self._declare_channel(session).queue_declare(queue, durable=True, arguments=arguments)
            return True
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != _PRECONDITION_FAILED:
                self._warn_once(session, queue, "AMQP consumer %s cannot declare %s: %s", self._name, queue,
                                exc.reply_text)
                return False
            self._warn_once(
                session,
                queue,
                "AMQP consumer %s: queue %s exists with other arguments than the hub's (%s); using it as it is",
                self._name,
                queue,
                exc.reply_text,
            )
        return self._exists(session, queue)

    def _exists(self, session: _Session, queue: str) -> bool:
        try:
            self._declare_channel(session).queue_declare(queue, passive=True)
            return True
        except pika.exceptions.ChannelClosedByBroker as exc:
            self._warn_once(session, queue, "AMQP consumer %s: queue %s is not usable (%s); will look again",
                            self._name, queue, exc.reply_text)
            return False

    def _warn_once(self, session: _Session, queue: str, message: str, *args: Any) -> None:
        level = logging.DEBUG if queue in session.warned else logging.WARNING
        session.warned.add(queue)
        log.log(level, message, *args, extra={"queue": queue})

    # -- batches -------------------------------------------------------------------------------------

    def _handle_batch(self, session: _Session, stop: threading.Event) -> bool:
        """Hand the first batch_max pending deliveries to the handler, retrying it while it raises
        (the deliveries stay unacked and held here, the connection kept alive), then settle them.
        Returns False if `stop` was set while the handler kept failing (the batch is left unacked)."""
        batch = session.pending[: self._batch_max]
        del session.pending[: self._batch_max]
        if session.pending:
            session.first_pending_at = time.monotonic() - self._batch_wait  # they waited already
        messages = [d.message for d in batch]

        # Not nack-and-requeue: in a quorum queue each return counts towards x-delivery-limit, so a
        # database outage would dead-letter good messages. Holding them keeps them out of that count.
        if session.handler_retrying is None:
            session.handler_retrying = Retrying(
                retry=retry_if_exception_type(_HandlerFailed),
                wait=_backoff(),
                stop=stop_when_event_set(stop),
                sleep=functools.partial(self._idle, session, stop),
                before_sleep=self._log_handler_retry,
                reraise=True,
            )
        try:
            verdicts = session.handler_retrying(self._call_handler, messages)
        except _HandlerFailed:
            log.warning("AMQP consumer %s stopping with a failing batch of %d left unacked", self._name, len(batch))
            return False
        self._settle(session, batch, verdicts, stop)
        return True

    def _call_handler(self, messages: list[AmqpMessage]) -> list[str | None]:
        try:
            verdicts = self._handle(messages)
        except Exception as exc:
            self._stats.handler_failures += 1
            raise _HandlerFailed(f"{type(exc).__name__}: {exc}") from exc
        if len(verdicts) != len(messages):
            self._stats.handler_failures += 1
            raise _HandlerFailed(f"handler returned {len(verdicts)} verdicts for {len(messages)} messages")
        return verdicts

    def _log_handler_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        messages: list[AmqpMessage] = state.args[0] if state.args else []
        log.error(
            "AMQP consumer %s: handler failed for a batch of %d (%s); nothing acked, retrying in %.1f s (attempt %d)",
            self._name,
            len(messages),
            exc,
            delay,
            state.attempt_number,
            exc_info=exc.__cause__ if exc is not None and exc.__cause__ is not None else None,
            extra={"consumer": self._name, "message_ids": [m.message_id for m in messages]},
        )

    def _idle(self, session: _Session, stop: threading.Event, seconds: float) -> None:
        """Wait, serving the connection (heartbeats, incoming deliveries), until `seconds` passed or stop."""
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            session.connection.process_data_events(time_limit=min(left, 0.25))

    def _settle(self, session: _Session, batch: list[_Delivery], verdicts: list[str | None],
                stop: threading.Event) -> None:
        """Ack the batch with as few `multiple` acks as possible. Everything delivered before the batch
        is settled already and the batch is in delivery order, so one ack of the last tag settles a whole
        contiguous run; only a poison message that could not be dead-lettered breaks a run."""
        last_ok: int | None = None
        run = 0
        for delivery, reason in zip(batch, verdicts, strict=True):
            tag = delivery.message.delivery_tag
            if reason is not None and not self._dead_letter(session, delivery, reason):
                if last_ok is not None:
                    session.channel.basic_ack(last_ok, multiple=True)
                    self._stats.acked += run
                    last_ok, run = None, 0
                # Back off before handing it back: on a queue without a delivery limit it would
                # otherwise come straight back, in a tight loop.
                session.dead_letter_failures += 1
                self._idle(session, stop, min(_BACKOFF_MAX, _BACKOFF_INITIAL * 2 ** (session.dead_letter_failures - 1)))
                session.channel.basic_nack(tag, multiple=False, requeue=True)
                self._stats.requeued += 1
                continue
            last_ok = tag
            run += 1
        if last_ok is not None:
            session.channel.basic_ack(last_ok, multiple=True)
            self._stats.acked += run

    def _dead_letter(self, session: _Session, delivery: _Delivery, reason: str) -> bool:
        message, props = delivery.message, delivery.properties
        target = message.queue + self._suffix
        headers = dict(message.headers)
        headers["x-hub-reason"] = reason
        headers["x-hub-original-queue"] = message.queue
        if message.user_id is not None:
            # Not republished as user_id: RabbitMQ rejects a user_id other than the hub's own login.
            headers["x-hub-original-user-id"] = message.user_id
        properties = pika.BasicProperties(
            content_type=props.content_type,
            content_encoding=props.content_encoding,
            headers=headers,
            delivery_mode=2,
            priority=props.priority,
            correlation_id=props.correlation_id,
            reply_to=props.reply_to,
            message_id=props.message_id,
            timestamp=props.timestamp,
            type=props.type,
            app_id=props.app_id,
        )
        try:
            _with_deadline(
                session.connection,
                _DEAD_LETTER_CONFIRM_TIMEOUT,
                lambda: session.dead_letter_channel.basic_publish("", target, message.body, properties, mandatory=True),
            )
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
            log.error(
                "AMQP consumer %s could not dead-letter a message of %s to %s (%s); returned to its queue",
                self._name,
                message.queue,
                target,
                type(exc).__name__,
                extra={"queue": message.queue, "message_id": message.message_id},
            )
            return False
        self._stats.dead_lettered += 1
        session.dead_letter_failures = 0
        log.warning(
            "AMQP consumer %s dead-lettered a message of %s to %s: %s",
            self._name,
            message.queue,
            target,
            reason,
            extra={"queue": message.queue, "message_id": message.message_id},
        )
        return True


# --------------------------------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------------------------------


class Publisher:
    """Publishes persistent messages with publisher confirms and `mandatory`.

    One connection and one confirm-mode channel, opened on first use and opened again on the next call
    after any failure. Calls are serialised by a lock: one thread publishes at a time, and each call
    waits for the broker's confirm (for throughput, run several publishers).
    """

    def __init__(self, url: str, *, confirm_timeout: float = 10.0, name: str = "hub") -> None:
        self._url = url
        self._confirm_timeout = confirm_timeout
        self._name = name
        self._lock = threading.Lock()
        self._connection: Any = None
        self._channel: Any = None

    def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        headers: dict[str, Any] | None = None,
        message_id: str | None = None,
        correlation_id: str | None = None,
        content_type: str | None = None,
    ) -> None:
        """Publish and wait for the broker's confirm.

        Raises Unroutable (no queue for that routing key, or no such exchange), NotConfirmed (nacked,
        no confirm within confirm_timeout, or connection lost while waiting) or BrokerUnavailable."""
        properties = pika.BasicProperties(
            delivery_mode=2,
            headers=headers,
            message_id=message_id,
            correlation_id=correlation_id,
            content_type=content_type,
        )
        with self._lock:
            channel = self._open()
            try:
                _with_deadline(
                    self._connection,
                    self._confirm_timeout,
                    lambda: channel.basic_publish(exchange, routing_key, body, properties, mandatory=True),
                )
            except pika.exceptions.UnroutableError as exc:
                raise Unroutable(self._unroutable_reason(exchange, routing_key, exc)) from exc
            except pika.exceptions.NackError as exc:
                raise NotConfirmed(f"the broker nacked the message to {exchange!r}/{routing_key!r}") from exc
            except pika.exceptions.ChannelClosedByBroker as exc:
                self._channel = None  # the connection survives a channel error; reopen the channel only
                if exc.reply_code == _NOT_FOUND:
                    raise Unroutable(f"unroutable: {exc.reply_text} (routing key {routing_key!r})") from exc
                raise NotConfirmed(f"the broker closed the channel: {exc.reply_code} {exc.reply_text}") from exc
            except _Deadline as exc:
                self._discard()
                raise NotConfirmed(f"no publisher confirm from the broker within {self._confirm_timeout:g} s") from exc
            except (pika.exceptions.AMQPError, OSError) as exc:
                self._discard()
                raise NotConfirmed(f"connection lost before the confirm ({type(exc).__name__}: {exc})") from exc

    def close(self) -> None:
        with self._lock:
            self._discard()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _unroutable_reason(exchange: str, routing_key: str, exc: Any) -> str:
        detail = ""
        returned = getattr(exc, "messages", None)
        if returned:
            method = returned[0].method
            detail = f" ({method.reply_code} {method.reply_text})"
        target = f"exchange {exchange!r}" if exchange else "the default exchange"
        return f"unroutable: no queue bound to {target} for routing key {routing_key!r}{detail}"

    def _open(self) -> Any:
        """The confirm-mode channel, (re)connecting if needed. Serving pending I/O first both answers
        heartbeats on an idle connection and notices one the broker closed since the last call."""
        if self._connection is not None and self._connection.is_open:
            try:
                self._connection.process_data_events(time_limit=0)
            except Exception:
                log.info("AMQP publisher %s: connection lost since the last publish; reconnecting", self._name)
                self._discard()
        if self._connection is None or not self._connection.is_open:
            self._discard()
            params = _connection_parameters(
                self._url,
                f"{self._name}-publisher",
                connection_attempts=1,
                socket_timeout=min(5.0, self._confirm_timeout),
                stack_timeout=min(10.0, max(self._confirm_timeout, 1.0)),
                blocked_connection_timeout=self._confirm_timeout,
            )
            try:
                self._connection = pika.BlockingConnection(params)
            except (pika.exceptions.AMQPError, OSError) as exc:
                self._connection = None
                raise BrokerUnavailable(f"cannot connect to the broker: {type(exc).__name__}: {exc}") from exc
        if self._channel is None or not self._channel.is_open:
            try:
                channel = self._connection.channel()
                channel.confirm_delivery()
            except (pika.exceptions.AMQPError, OSError) as exc:
                self._discard()
                raise BrokerUnavailable(f"cannot open a channel: {type(exc).__name__}: {exc}") from exc
            self._channel = channel
        return self._channel

    def _discard(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        _close_quietly(connection)
