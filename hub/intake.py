"""Intake: what every channel does with what it received — journal it, durably, then let it go.

The adapters (SFTP server, AMQP consumer, watched folder) call these functions and acknowledge their
transport only after they return: the bytes are then committed (synced on SQLite). Nothing else
happens here; the pipeline picks journalled messages up (see hub.pipeline).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.store import Received, Store

if TYPE_CHECKING:
    from adapters.amqp import AmqpMessage
    from adapters.sftp_server import Upload
    from hub.partners import Partners

log = logging.getLogger("hub.intake")

MAX_AMQP_BODY = 100 * 1024 * 1024


class Intake:
    def __init__(self, store: Store, partners: Callable[[], Partners], *,
                 wake: Sequence[threading.Event] = ()) -> None:
        self.store = store
        self.partners = partners
        self.wake = list(wake)
        self.journalled = 0

    def _woke(self, n: int) -> None:
        self.journalled += n
        for event in self.wake:
            event.set()

    def sftp_upload(self, upload: Upload) -> None:
        """A complete upload in a partner's in/: journal it (the server then removes the file)."""
        data = Path(upload.path).read_bytes()
        entry = self.store.journal(data, channel="sftp", partner=upload.partner_id, filename=upload.filename)
        log.info("journalled %s from %s over SFTP (%d bytes)", upload.filename, upload.partner_id, len(data),
                 extra={"message_id": entry.id, "partner": upload.partner_id})
        self._woke(1)

    def amqp_batch(self, batch: list[AmqpMessage]) -> list[str | None]:
        """Journal a batch of AMQP messages in one durable transaction; a reason for each poison one."""
        partners = self.partners()
        verdicts: list[str | None] = []
        rows: list[tuple[AmqpMessage, str | None]] = []
        for m in batch:
            partner = partners.by_queue(m.queue)
            reason = None
            if not m.body:
                reason = "empty message body"
            elif len(m.body) > MAX_AMQP_BODY:
                reason = f"message body of {len(m.body)} bytes exceeds the limit of {MAX_AMQP_BODY}"
            verdicts.append(reason)
            if reason is None:
                rows.append((m, partner.id if partner else None))
        if rows:
            received = []
            for m, partner_id in rows:
                meta: dict[str, Any] = {"queue": m.queue}
                for name in ("message_id", "correlation_id", "reply_to", "app_id", "user_id", "content_type"):
                    value = getattr(m, name)
                    if value:
                        meta["amqp_" + name if name != "reply_to" else "reply_to"] = value
                filename = m.headers.get("x-filename") or m.headers.get("filename")
                received.append(Received(m.body, "amqp", partner_id, str(filename) if filename else None,
                                         meta=meta))
            with self.store.transaction(durable=True) as tx:
                tx.journal_many(received)
            self._woke(len(rows))
        return verdicts

    def file(self, path: Path, *, channel: str = "folder", partner: str | None = None) -> str:
        data = path.read_bytes()
        entry = self.store.journal(data, channel=channel, partner=partner, filename=path.name)
        log.info("journalled %s%s from the %s (%d bytes)", path.name, f" of {partner}" if partner else "", channel,
                 len(data), extra={"message_id": entry.id, "partner": partner})
        self._woke(1)
        return entry.id
