"""The path of one input: journal, validate, map, correlate into the store.

Persist before anything else: the raw bytes are journalled first, so nothing that reached the hub can
be lost by a later failure. A byte-identical input already journalled is recorded as a duplicate and
not processed twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from hub.catalog import Catalog
from hub.dossier.correlate import Key, Outcome, correlate, source_of
from hub.dossier.keys import Stamp
from hub.mapping.run import MessageMapping, map_edifact, map_xml
from hub.report import Report
from hub.store import Store
from hub.store.store import JournalEntry, Transaction


def map_bytes(data: bytes, catalog: Catalog) -> tuple[Report, list[MessageMapping]]:
    """Validate, then map every message that validation located (rejected ones included: a mapping
    author wants to see what they would give)."""
    from hub.xml import looks_like_xml, parse_and_validate

    if looks_like_xml(data):
        report, root = parse_and_validate(data)
        if root is None:
            return report, []
        return report, [map_xml(root, catalog.mappings())]
    from hub.edifact.validator import validate_located

    report, located = validate_located(data, catalog)
    return report, map_edifact(located, catalog.mappings(), catalog.directory)


class StoreRepository:
    """`hub.dossier.correlate.Repository` over one store transaction."""

    def __init__(self, tx: Transaction, content_id: str = "", journal_id: str | None = None) -> None:
        self.tx = tx
        self.versions: dict[str, int] = {}
        # Messages are known to correlation by a content id (same bytes, same id, whatever the order
        # or the database); events of the message being processed point to its journal entry.
        self.content_id = content_id
        self.journal_id = journal_id

    def find(self, kind: str, key_type: str, value: str) -> list[str]:
        return self.tx.find_dossier_ids(key_type, value, kind=kind)

    def load(self, dossier_id: str) -> dict[str, Any] | None:
        found = self.tx.load_dossier(dossier_id, lock=True)
        if found is None:
            return None
        doc, version = found
        self.versions[dossier_id] = version
        return doc

    def save(self, dossier_id: str, kind: str, stored: dict[str, Any], index: list[Key]) -> None:
        status = str(stored["dossier"].get("status") or "")
        if dossier_id in self.versions:
            self.versions[dossier_id] = self.tx.update_dossier(dossier_id, status, stored,
                                                               self.versions[dossier_id])
        else:
            self.versions[dossier_id] = self.tx.insert_dossier(dossier_id, kind, status, stored)
        self.tx.delete_keys_for_dossier(dossier_id)
        self.tx.add_keys({"key_type": t, "value": v, "scope": scope, "dossier_id": dossier_id,
                          "dossier_kind": kind} for t, v, scope in index)
        events = stored["dossier"].get("events") or []
        self.tx.add_events({"id": e["id"], "dossier_id": dossier_id, "type": e["type"],
                            "event_time": Stamp.from_dict(e["time"]).as_datetime() if e.get("time") else None,
                            "message_id": self._journal_id(e.get("source_message_id")),
                            "detail": e.get("detail") or None}
                           for e in events)
        current = {d["id"] for d in stored["dossier"].get("discrepancies") or []}
        for d in stored["dossier"].get("discrepancies") or []:
            self.tx.upsert_discrepancy(dossier_id, d["type"], d["id"], severity=d["severity"],
                                       detail={"text": d["detail"], "keys": d["keys"]},
                                       status="open")
        for d in self.tx.discrepancies_for(dossier_id, status="open"):
            if d["key"] not in current:
                self.tx.set_discrepancy_status(d["id"], "resolved")

    def _journal_id(self, message_id: str | None) -> str | None:
        """The journal entry of an event's message: the current one's; earlier messages' events are
        already stored (add_events skips them)."""
        if message_id and self.content_id and message_id.split(".", 1)[0] == self.content_id:
            return self.journal_id
        return None

    def delete(self, dossier_id: str) -> None:
        self.tx.delete_dossier(dossier_id)
        self.versions.pop(dossier_id, None)

    def new_id(self, kind: str) -> str:
        return ("VC-" if kind == "vessel_call" else "CS-") + uuid.uuid4().hex[:12].upper()


@dataclass
class Ingested:
    message_id: str
    duplicate_of: str | None
    report: Report | None
    mappings: list[MessageMapping] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id, "duplicate_of": self.duplicate_of,
            "accepted": self.report.accepted if self.report else None,
            "messages": [{"ref": m.message_ref, "type": m.message_type, "spec": m.spec, "reason": m.reason,
                          "notes": m.notes} for m in self.mappings],
            "calls": sorted({c for o in self.outcomes for c in o.calls}),
            "consignments": sorted({c for o in self.outcomes for c in o.consignments}),
            "created": sorted({c for o in self.outcomes for c in o.created}),
            "merged": sorted({c for o in self.outcomes for c in o.merged}),
        }


def correlate_mapped(tx: Transaction, entry: JournalEntry, mappings: list[MessageMapping], *,
                     channel: str) -> list[Outcome]:
    """Correlate the mapped documents of one journalled message into the store, inside `tx`.

    Idempotent: the message is known to correlation by its content id, so running this again for the
    same message (after a crash, or by a second hub process) changes no dossier.
    """
    content_id = "M" + entry.sha256[:20]
    repo = StoreRepository(tx, content_id, entry.id)
    received = entry.received_at.isoformat()
    outcomes = []
    for n, m in enumerate(mappings):
        if m.document is None:
            continue
        mid = content_id if len(mappings) == 1 else f"{content_id}.{n + 1}"
        src = source_of(mid, m.document, sha256=entry.sha256, received_at=received, channel=channel)
        outcomes.append(correlate(repo, src, m.document))
    return outcomes


def ingest_bytes(data: bytes, store: Store, catalog: Catalog, *, channel: str = "folder",
                 filename: str | None = None, partner: str | None = None) -> Ingested:
    with store.transaction(durable=True) as tx:
        entry = tx.journal(data, channel=channel, partner=partner, filename=filename)
    if entry.duplicate_of is not None:
        return Ingested(entry.id, entry.duplicate_of, None)
    report, mappings = map_bytes(data, catalog)
    result = Ingested(entry.id, None, report, mappings)
    with store.transaction() as tx:
        tx.save_report(entry.id, report.to_dict(), report.accepted)
        if not report.accepted:
            tx.set_status(entry.id, "failed", "rejected by validation")
            return result
        result.outcomes = correlate_mapped(tx, entry, mappings, channel=channel)
        tx.set_status(entry.id, "correlated")
    return result
