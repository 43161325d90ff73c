"""Delivery: the outbox worker, and the check for acknowledgements that are overdue.

A delivery is leased from the outbox, sent over its channel, and marked delivered. A failed attempt is
retried later, after an exponentially growing wait with jitter (tenacity's schedule), until the
delivery is older than the retry budget (`delivery_max_age_s`): then it is dead-lettered with the
last reason, and stays in the outbox for `hub outbox replay` once the destination is back.

Channels:
  sftp       the partner's box on the hub's own SFTP server (out/ or ack/), written atomically
  sftp-push  the partner's own SFTP server (adapters.sftp_client.push: temp name, then rename)
  amqp       a persistent publish with publisher confirms and mandatory routing
  folder     a local folder, written atomically

Sending is at least once: a crash between the send and the `delivered` mark sends again. Receivers
dedupe by the delivery id, carried in the AMQP message_id and the x-hub-delivery-id header.

The deliveries of a leased batch are sent by `[delivery] senders` threads at once (4 by default), each
with its own AMQP connection: a publish waits some milliseconds for the broker's confirm (a quorum
queue writes it on a majority of its nodes first), and one connection waiting for each in turn could
not publish more than a few hundred messages a second. The order in which deliveries arrive is
therefore not the order they were made in, as it never was across retries or hub processes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tenacity

from hub.pipeline import work_loop
from hub.routing import INTERCHANGE_KINDS
from hub.store import Store
from hub.store.store import Transaction
from hub.store.types import utcnow
from hub.store.work import Delivery

if TYPE_CHECKING:
    from hub.config import Settings
    from hub.partners import Partner, Partners

log = logging.getLogger("hub.delivery")


class DeliveryFailed(Exception):
    """An attempt failed; the message is the reason recorded in the outbox."""


Sender = Callable[[Delivery, "Partner | None"], None]


def backoff(attempt: int, *, initial: float, maximum: float) -> float:
    """Seconds to wait before attempt `attempt + 1`: tenacity's exponential schedule with jitter."""
    state = tenacity.RetryCallState(retry_object=tenacity.Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = max(1, attempt)
    wait = tenacity.wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial)
    return float(wait(state))


class Deliverer:
    """Leases due deliveries and sends them. One per worker thread."""

    def __init__(self, store: Store, partners: Callable[[], Partners], settings: Settings, *,
                 worker: str | None = None, senders: dict[str, Sender] | None = None,
                 publisher_factory: Callable[[], Any] | None = None) -> None:
        from hub.pipeline import worker_name

        self.store = store
        self.partners = partners
        self.settings = settings
        self.worker = worker or worker_name()
        self.wake = threading.Event()
        self._publisher_factory = publisher_factory
        self._local = threading.local()  # each sending thread's own publisher (pika is not thread-safe)
        self._publishers: list[Any] = []
        self._publishers_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.senders: dict[str, Sender] = {"sftp": self._to_box, "sftp-push": self._push, "amqp": self._publish,
                                           "folder": self._to_folder}
        self.senders.update(senders or {})
        self.delivered = 0
        self.failed = 0
        self.dead = 0

    def run_once(self, limit: int = 50) -> int:
        """Lease due deliveries, send them, and record the outcomes in one transaction."""
        with self.store.transaction() as tx:
            due = tx.claim_deliveries(self.worker, limit=limit)
        if not due:
            return 0
        partners = self.partners()
        senders = self.settings.delivery_senders
        if senders > 1 and len(due) > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(senders, thread_name_prefix="delivery-send")
            errors = list(self._pool.map(lambda d: self._send(d, partners.get(d.partner)), due))
        else:
            errors = [self._send(d, partners.get(d.partner)) for d in due]
        self._record(list(zip(due, errors, strict=True)), partners)
        return len(due)

    def run(self, stop: threading.Event, idle_wait: float = 0.5) -> None:
        work_loop(self.run_once, stop, self.wake, "delivery", idle_wait)
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with self._publishers_lock:
            publishers, self._publishers = self._publishers, []
            self._local = threading.local()
        for publisher in publishers:
            try:
                publisher.close()
            except Exception:
                log.debug("publisher close failed", exc_info=True)

    def attempt(self, d: Delivery) -> bool:
        """Send one leased delivery and record the outcome; True if delivered."""
        partners = self.partners()
        error = self._send(d, partners.get(d.partner))
        self._record([(d, error)], partners)
        return error is None

    def _send(self, d: Delivery, partner: Partner | None) -> str | None:
        """Send; None when done, else the reason it failed."""
        try:
            sender = self.senders.get(d.channel)
            if sender is None:
                raise DeliveryFailed(f"no sender for channel {d.channel!r}")
            sender(d, partner)
        except Exception as exc:
            return str(exc) if isinstance(exc, DeliveryFailed) else f"{type(exc).__name__}: {exc}"
        return None

    def _record(self, outcomes: list[tuple[Delivery, str | None]], partners: Partners) -> None:
        """Write the outcomes of sent deliveries. A crash before this commit sends them again (at least
        once); receivers dedupe by the delivery id."""
        now = utcnow()
        with self.store.transaction() as tx:
            for d, error in outcomes:
                if error is not None:
                    self._failed(tx, d, error, now)
                    continue
                tx.mark_delivered(d.id, self.worker)
                partner = partners.get(d.partner)
                if partner is not None and d.control_ref and d.kind in INTERCHANGE_KINDS and partner.acks.expect_contrl:
                    minutes = partner.acks.deadline_minutes or self.settings.ack_deadline_minutes
                    tx.expect_ack(delivery_id=d.id, partner=partner.id, control_ref=d.control_ref,
                                  message_refs=[], deadline=now + timedelta(minutes=minutes))
                self.delivered += 1
                log.info("delivered", extra={"delivery_id": d.id, "message_id": d.message_id,
                                             "partner": d.partner, "channel": d.channel})

    def _failed(self, tx: Transaction, d: Delivery, reason: str, now: datetime) -> None:
        age = (now - d.created_at).total_seconds()
        attempts = d.attempts + 1
        retry_at: datetime | None
        if age >= self.settings.delivery_max_age_s:
            retry_at = None
            budget = self.settings.delivery_max_age_s
            reason = f"dead after {attempts} attempts over {int(age)} s (budget {budget} s): {reason}"
            self.dead += 1
            log.error("delivery dead-lettered: %s", reason, extra={"delivery_id": d.id, "partner": d.partner})
        else:
            wait = backoff(attempts, initial=self.settings.delivery_initial_backoff_s,
                           maximum=self.settings.delivery_max_backoff_s)
            retry_at = now + timedelta(seconds=wait)
            self.failed += 1
            log.warning("delivery attempt %d failed, retry in %.1f s: %s", attempts, wait, reason,
                        extra={"delivery_id": d.id, "partner": d.partner})
        tx.mark_attempt_failed(d.id, reason, retry_at=retry_at)

    # --- channels ------------------------------------------------------------------------------------

    def _to_box(self, d: Delivery, partner: Partner | None) -> None:
        from adapters.sftp_client import deliver_to_box

        box = str(d.target.get("box") or "out")
        if box not in ("out", "ack"):
            raise DeliveryFailed(f"unknown box folder {box!r}")
        folder = Path(self.settings.sftp_root) / d.partner / box
        folder.mkdir(parents=True, exist_ok=True)  # a partner who never logged in has no box yet
        deliver_to_box(folder, d.filename, d.payload or b"")

    def _to_folder(self, d: Delivery, partner: Partner | None) -> None:
        from adapters.sftp_client import deliver_to_box

        folder = d.target.get("dir")
        if not folder:
            raise DeliveryFailed("the delivery names no folder")
        Path(folder).mkdir(parents=True, exist_ok=True)
        deliver_to_box(Path(folder), d.filename, d.payload or b"")

    def _push(self, d: Delivery, partner: Partner | None) -> None:
        from adapters.sftp_client import push

        if partner is None or partner.sftp is None or partner.sftp.push is None:
            raise DeliveryFailed(f"partner {d.partner} has no sftp.push server configured")
        cfg = partner.sftp.push
        push(cfg.host, cfg.port, cfg.username, d.payload or b"", str(d.target.get("remote_dir") or cfg.remote_dir),
             d.filename, key_file=cfg.key_file, password=cfg.password, known_hosts=cfg.known_hosts)

    def _publisher(self) -> Any:
        """This thread's publisher, made on first use."""
        publisher = getattr(self._local, "publisher", None)
        if publisher is None:
            if self._publisher_factory is not None:
                publisher = self._publisher_factory()
            else:
                from adapters.amqp import Publisher

                if not self.settings.amqp_url:
                    raise DeliveryFailed("no AMQP broker configured (HUB_AMQP_URL)")
                publisher = Publisher(self.settings.amqp_url, name=threading.current_thread().name)
            self._local.publisher = publisher
            with self._publishers_lock:
                self._publishers.append(publisher)
        return publisher

    def _publish(self, d: Delivery, partner: Partner | None) -> None:
        key = d.target.get("routing_key")
        if not key:
            raise DeliveryFailed(f"partner {d.partner} has no AMQP routing key to deliver to")
        self._publisher().publish(str(d.target.get("exchange") or ""), str(key), d.payload or b"",
                                headers={"x-hub-delivery-id": d.id, "x-hub-message-id": d.message_id or "",
                                         "x-hub-kind": d.kind, "x-hub-filename": d.filename},
                                message_id=d.id, content_type=d.content_type)


def check_overdue(store: Store) -> list[dict[str, Any]]:
    """Flag acknowledgements past their deadline (logged once each); returns the newly overdue."""
    with store.transaction() as tx:
        overdue = tx.mark_overdue_acks()
    for ack in overdue:
        log.warning("acknowledgement overdue from %s for interchange %s (deadline %s)", ack["partner"],
                    ack["control_ref"], ack["deadline"].isoformat(),
                    extra={"partner": ack["partner"], "delivery_id": ack["delivery_id"]})
    return overdue
