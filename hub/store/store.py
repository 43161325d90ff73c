"""The store's API: `Store` (one-shot calls, each its own transaction) and `Transaction` (a unit of work).

Rule 1: persist before acknowledge. `Store.journal` commits the raw bytes and their metadata before it
returns, and on SQLite it asks for a synced commit (synchronous=FULL for that commit only), so a message
whose transport has been acknowledged survives a power cut. Everything after the journal can be
recomputed from it, and commits with synchronous=NORMAL (see engine.py).

Rule 2: every write is idempotent, so a stage run twice changes nothing: a report replaces the previous
one, a correlation key or an event already present is skipped (an event is identified by its id, so a
caller that wants re-runs to be no-ops passes a deterministic id), a discrepancy is identified by
(dossier, type, key) and updated in place. The journal is the exception by design: receiving the same
bytes twice is a fact worth recording, so it records a second message, flagged `duplicate_of`.

Concurrency: a dossier carries a version. `update_dossier` writes only if the version is still the one
the caller read, and bumps it; otherwise it raises `ConcurrentUpdate` and the caller retries its unit of
work from the start. This works the same on SQLite (one writer at a time anyway) and on PostgreSQL with
several hub processes, without holding locks while mapping.

Vocabularies (channels, statuses, kinds) are checked here rather than by CHECK constraints; see
schema.py for why.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from types import EllipsisType, TracebackType
from typing import Any, TypeGuard

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, RowMapping

from hub.affinity import call_hint
from hub.store import engine as _engine
from hub.store.engine import StoreError
from hub.store.ids import new_id
from hub.store.prepared import Prepared, chunks
from hub.store.schema import (
    correlation_keys,
    discrepancies,
    dossier_fragments,
    dossier_parts,
    dossiers,
    events,
    message_bodies,
    messages,
    reports,
)
from hub.store.types import utcnow
from hub.store.work import WorkMixin

_FIRST, _SECOND, _THIRD = itemgetter(0), itemgetter(1), itemgetter(2)

__all__ = [
    "CHANNELS",
    "DISCREPANCY_STATUSES",
    "DOSSIER_KINDS",
    "QUERY_KEYS",
    "STATUSES",
    "ConcurrentUpdate",
    "DossierExists",
    "JournalEntry",
    "KeyNormalizer",
    "NotFound",
    "Store",
    "StoredMessage",
    "Transaction",
    "open_store",
]

CHANNELS = frozenset({"sftp", "amqp", "http", "folder", "cli"})
STATUSES = ("received", "validated", "mapped", "correlated", "routed", "failed", "duplicate")
"""Pipeline order, then the two ends that are not success: rejected, and a resend already processed."""
DOSSIER_KINDS = frozenset({"vessel_call", "consignment"})
DISCREPANCY_STATUSES = frozenset({"open", "accepted", "resolved"})
# The keywords of `dossiers_by` and the key_type each searches: the names of hub.dossier.keys.KeyType
# (not imported: the store depends on nothing else in the hub). Keys must be stored under these names
# for the searches to find them.
QUERY_KEYS = {"bl": "bl", "container": "container", "vessel_imo": "imo", "vessel_name": "vessel_name",
              "voyage": "voyage", "port_call_ref": "port_call_ref", "customs_ref": "customs_ref"}

# Envelope fields of `meta` that have their own column in `messages`; other keys go to its `meta` JSON.
_META_COLUMNS = frozenset({"syntax", "sender", "recipient", "control_ref", "message_type", "message_types",
                           "message_refs"})

KeyNormalizer = Callable[[str, str], str]
"""(key_type, value as typed by a person) -> the normalised value stored in correlation_keys."""


class ConcurrentUpdate(StoreError):
    """The dossier changed (or disappeared) since it was read: reload it and redo the unit of work."""

    def __init__(self, dossier_id: str, expected_version: int, actual_version: int | None) -> None:
        self.dossier_id = dossier_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        found = "it no longer exists" if actual_version is None else f"it is at version {actual_version}"
        super().__init__(f"dossier {dossier_id} was changed by another writer: expected version "
                         f"{expected_version}, but {found}; reload it and try again")


class DossierExists(StoreError):
    def __init__(self, dossier_id: str) -> None:
        self.dossier_id = dossier_id
        super().__init__(f"dossier {dossier_id} already exists")


class NotFound(StoreError, LookupError):
    pass


@dataclass(frozen=True)
class JournalEntry:
    id: str
    sha256: str
    size: int
    received_at: datetime
    duplicate_of: str | None  # the first message journaled with the same bytes


@dataclass(frozen=True)
class Received:
    """A message to journal (`Transaction.journal_many`), with what `journal` takes beside it."""

    raw: bytes
    channel: str
    partner: str | None = None
    filename: str | None = None
    received_at: datetime | None = None
    meta: Mapping[str, Any] | None = None
    sha256: str | None = None  # hex digest of raw, when already computed


@dataclass(frozen=True)
class StoredMessage:
    id: str
    received_at: datetime
    sha256: str
    size: int
    channel: str
    partner: str | None
    filename: str | None
    duplicate_of: str | None
    syntax: str | None
    sender: str | None
    recipient: str | None
    control_ref: str | None
    message_type: str | None
    message_types: list[str] | None
    message_refs: list[str] | None
    meta: dict[str, Any] | None
    status: str
    error: str | None
    status_at: datetime
    call_hint: str | None  # hub.affinity.call_hint of the bytes, read at intake
    raw: bytes | None  # None when not loaded (lists of messages leave the bodies out)


_MESSAGE_COLUMNS = [c for c in messages.c if c.name not in ("claimed_by", "claimed_until")]  # leases: work.py
_NO_META = dict.fromkeys(_META_COLUMNS)  # every insert names the same columns: one compiled statement


def _check(value: str, allowed: Iterable[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(sorted(allowed))}")


def _split_meta(meta: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Envelope fields with a column of their own, and the rest."""
    columns = {k: v for k, v in meta.items() if k in _META_COLUMNS}
    extra = {k: v for k, v in meta.items() if k not in _META_COLUMNS}
    for name in ("message_types", "message_refs"):
        if columns.get(name) is not None:
            columns[name] = [str(v) for v in columns[name]]
    if columns.get("message_types") and "message_type" not in columns:
        columns["message_type"] = columns["message_types"][0]
    return columns, extra


def _lock_key(hex_digest: str) -> int:
    return int.from_bytes(bytes.fromhex(hex_digest[:16]), "big", signed=True)


_DOSSIER_COLUMNS = (dossiers.c.id, dossiers.c.kind, dossiers.c.status, dossiers.c.document)


def _dossier_dict(row: RowMapping, parts: Mapping[str, Any]) -> dict[str, Any]:
    doc = assemble_parts(row["document"], parts)
    doc.update(id=row["id"], kind=row["kind"], status=row["status"])
    return doc


# The lists of a dossier (document["dossier"][name]) whose items are stored as parts: items that never
# change once made, each with an id unique in its list.
PART_LISTS = ("bayplans", "events")
PART = "$part"


def split_parts(document: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The document as its row keeps it (each item of the PART_LISTS replaced by {"$part": name}) and
    the items by part name ("<list>/<item id>"). The items are the document's own objects. A list whose
    items do not all have an id of their own stays inline."""
    dossier = document.get("dossier")
    if not isinstance(dossier, dict):
        return dict(document), {}
    parts: dict[str, Any] = {}
    lists: dict[str, list[dict[str, str]]] = {}
    for name in PART_LISTS:
        items = dossier.get(name)
        if not isinstance(items, list) or not items:
            continue
        names = [f"{name}/{item['id']}" if isinstance(item, dict) and isinstance(item.get("id"), str) else ""
                 for item in items]
        if "" in names or len(set(names)) < len(names):
            continue
        parts.update(zip(names, items, strict=True))
        lists[name] = [{PART: n} for n in names]
    if not lists:
        return dict(document), {}
    return {**document, "dossier": {**dossier, **lists}}, parts


def _placeholders(items: Any) -> TypeGuard[list[dict[str, Any]]]:
    """A list split_parts replaced by placeholders (it replaces a whole list or none of it)."""
    return isinstance(items, list) and bool(items) and isinstance(items[0], dict) and PART in items[0]


def has_parts(document: Mapping[str, Any]) -> bool:
    dossier = document.get("dossier")
    return isinstance(dossier, dict) and any(_placeholders(dossier.get(name)) for name in PART_LISTS)


def assemble_parts(document: Mapping[str, Any], parts: Mapping[str, Any]) -> dict[str, Any]:
    """The whole document from its row's document and its parts (the inverse of split_parts)."""
    if not has_parts(document):
        return dict(document)
    dossier = dict(document["dossier"])
    for name in PART_LISTS:
        items = dossier.get(name)
        if _placeholders(items):
            try:
                dossier[name] = [parts[item[PART]] for item in items]
            except KeyError as e:
                raise StoreError(f"dossier part {e.args[0]} is missing from dossier_parts") from None
    return {**document, "dossier": dossier}


class _Statements:
    """The statements of the hot paths, built once per dialect and run with parameters as `Prepared`
    statements (hub.store.prepared): building a statement around literal values costs more than running
    it on SQLite (SQLAlchemy coerces and cache-keys every value, about 100 us a statement), and even a
    cached statement costs SQLAlchemy's execute some 100 us where SQLite takes 6.
    """

    def __init__(self, dialect: str) -> None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        m, d = messages.c, discrepancies.c
        # per digest, the first journaled (ULIDs sort by time) of the messages that are no duplicate
        self.first_with_digest = Prepared(sa.select(m.sha256, sa.func.min(m.id))
                                          .where(m.sha256.in_(sa.bindparam("b_sha256", expanding=True)),
                                                 m.duplicate_of.is_(None))
                                          .group_by(m.sha256))
        self.insert_message = Prepared(messages.insert())
        self.insert_body = Prepared(message_bodies.insert())
        self.update_message = Prepared(messages.update().where(m.id == sa.bindparam("b_id")))
        self.message_meta = Prepared(sa.select(m.meta).where(m.id == sa.bindparam("b_id")))
        report = insert(reports)
        self.upsert_report = Prepared(report.on_conflict_do_update(
            index_elements=[reports.c.message_id],
            set_={name: report.excluded[name] for name in ("accepted", "report", "created_at")}))
        # DO NOTHING rather than catching the IntegrityError: on PostgreSQL an error aborts the whole
        # transaction, and the caller may want to go on (load the existing one instead).
        new_dossier = insert(dossiers).on_conflict_do_nothing(index_elements=[dossiers.c.id])
        self.insert_dossiers = Prepared(new_dossier)
        self.insert_dossier = Prepared(new_dossier.returning(dossiers.c.version))
        self.update_dossier = Prepared(dossiers.update()
                                       .where(dossiers.c.id == sa.bindparam("b_id"),
                                              dossiers.c.version == sa.bindparam("b_version"))
                                       .values(version=dossiers.c.version + 1)
                                       .returning(dossiers.c.version))
        k = correlation_keys.c
        # Reads of the correlation hot path, fixed for the same reason.
        linked = (sa.select(k.dossier_id)
                  .where(k.key_type == sa.bindparam("b_type"), k.value == sa.bindparam("b_value"))
                  .group_by(k.dossier_id).order_by(sa.func.min(k.id)))
        self.find_ids = Prepared(linked)
        self.find_ids_of_kind = Prepared(linked.where(k.dossier_kind == sa.bindparam("b_kind")))
        many = (sa.select(k.value, k.dossier_id)
                .where(k.key_type == sa.bindparam("b_type"), k.value.in_(sa.bindparam("b_values", expanding=True)))
                .group_by(k.value, k.dossier_id).order_by(sa.func.min(k.id)))
        among = (sa.select(k.dossier_id, sa.func.min(k.id))
                 .where(k.key_type == sa.bindparam("b_type"), k.value == sa.bindparam("b_value"),
                        k.dossier_kind == sa.bindparam("b_kind"),
                        k.dossier_id.in_(sa.bindparam("b_ids", expanding=True)))
                 .group_by(k.dossier_id))
        self.find_ids_among = Prepared(among)
        self.find_ids_many = Prepared(many)
        self.find_ids_many_of_kind = Prepared(many.where(k.dossier_kind == sa.bindparam("b_kind")))
        self.keys_of = Prepared(sa.select(k.id, k.dossier_id, k.key_type, k.value, k.scope)
                                .where(k.dossier_id.in_(sa.bindparam("b_ids", expanding=True))))
        self.delete_keys = Prepared(correlation_keys.delete()
                                    .where(k.id.in_(sa.bindparam("b_ids", expanding=True))))
        self.open_discrepancies = Prepared(sa.select(d.id, d.dossier_id, d.type, d.key)
                                           .where(d.dossier_id.in_(sa.bindparam("b_ids", expanding=True)),
                                                  d.status == "open")
                                           .order_by(d.created_at, d.id))
        load = sa.select(dossiers.c.document, dossiers.c.version).where(dossiers.c.id == sa.bindparam("b_id"))
        self.load_dossier = {False: Prepared(load),
                             True: Prepared(load.with_for_update() if dialect == "postgresql" else load)}
        version = sa.select(dossiers.c.version).where(dossiers.c.id == sa.bindparam("b_id"))
        self.dossier_version = {False: Prepared(version),
                                True: Prepared(version.with_for_update() if dialect == "postgresql" else version)}
        versions = (sa.select(dossiers.c.id, dossiers.c.version)
                    .where(dossiers.c.id.in_(sa.bindparam("b_ids", expanding=True))).order_by(dossiers.c.id))
        self.dossier_versions = {False: Prepared(versions),
                                 True: Prepared(versions.with_for_update() if dialect == "postgresql" else versions)}
        self.messages = {raw: Prepared(sa.select(*_MESSAGE_COLUMNS,
                                                 message_bodies.c.raw if raw else sa.null().label("raw"))
                                       .select_from(messages.join(message_bodies) if raw else messages)
                                       .where(m.id.in_(sa.bindparam("b_ids", expanding=True))))
                         for raw in (False, True)}
        fc = dossier_fragments.c
        self.fragments = Prepared(sa.select(fc.source_id, fc.fragment)
                                  .where(fc.dossier_id == sa.bindparam("b_id")).order_by(fc.id))
        fragment = insert(dossier_fragments)
        self.put_fragments = Prepared(fragment.on_conflict_do_update(
            index_elements=[fc.dossier_id, fc.source_id], set_={"fragment": fragment.excluded.fragment}))
        pc = dossier_parts.c
        self.parts = Prepared(sa.select(pc.part, pc.item).where(pc.dossier_id == sa.bindparam("b_id")))
        part = insert(dossier_parts)
        self.put_parts = Prepared(part.on_conflict_do_update(index_elements=[pc.dossier_id, pc.part],
                                                             set_={"item": part.excluded.item}))
        self.delete_parts = Prepared(dossier_parts.delete().where(
            pc.dossier_id == sa.bindparam("b_id"), pc.part.in_(sa.bindparam("b_parts", expanding=True))))
        self.insert_keys = Prepared(insert(correlation_keys).on_conflict_do_nothing(
            index_elements=[k.key_type, k.value, k.scope, k.dossier_id]), rows_per_statement=200)
        self.insert_events = Prepared(insert(events).on_conflict_do_nothing(index_elements=[events.c.id]))
        discrepancy = insert(discrepancies)
        updated = ("severity", "detail", "message_id", "updated_at")
        self.upsert_discrepancy = {
            with_status: Prepared(discrepancy.on_conflict_do_update(
                index_elements=[d.dossier_id, d.type, d.key],
                set_={name: discrepancy.excluded[name]
                      for name in updated + (("status",) if with_status else ())},
            ).returning(d.id))
            for with_status in (False, True)
        }
        self.upsert_discrepancies = Prepared(discrepancy.on_conflict_do_update(
            index_elements=[d.dossier_id, d.type, d.key],
            set_={name: discrepancy.excluded[name]
                  for name in ("severity", "detail", "message_id", "updated_at", "status")}))


@functools.cache
def _statements(dialect: str) -> _Statements:
    return _Statements(dialect)


@dataclass
class HeldWrites:
    """What `Transaction.writes_together` holds until its block ends."""

    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # message id -> columns to set
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # message id -> row
    deliveries: dict[tuple[str | None, str, str], dict[str, Any]] = field(default_factory=dict)  # identity -> row


class Transaction(WorkMixin):
    """One unit of work on one connection: committed when the `with` block ends, rolled back if it raises.

    Obtained from `Store.transaction()`; not to be used after its block.
    """

    def __init__(self, connection: Connection, key_normalizer: KeyNormalizer | None = None) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"
        self._normalize = key_normalizer
        self._s = _statements(connection.dialect.name)
        self._held: HeldWrites | None = None  # see writes_together

    # --- messages -----------------------------------------------------------------------------------

    def journal(self, raw: bytes, *, channel: str, partner: str | None = None, filename: str | None = None,
                received_at: datetime | None = None, meta: Mapping[str, Any] | None = None,
                sha256: str | None = None) -> JournalEntry:
        """Record a received message. `sha256` may be passed when already computed (hex digest of raw)."""
        return self.journal_many([Received(raw, channel, partner, filename, received_at, meta, sha256)])[0]

    def journal_many(self, received: Sequence[Received]) -> list[JournalEntry]:
        """`journal` for many messages at once (an AMQP batch): a handful of statements for all of them,
        not four each. A message whose bytes came earlier, in the store or in `received`, is recorded
        as a duplicate of the first."""
        for r in received:
            _check(r.channel, CHANNELS, "channel")
        now = utcnow()
        raws = [bytes(r.raw) for r in received]
        digests = [r.sha256 or hashlib.sha256(raw).hexdigest() for r, raw in zip(received, raws, strict=True)]
        if self._pg and digests:
            # Two hub processes journaling the same bytes at once must not both see "no original".
            # (On SQLite the write transaction already excludes every other writer.)
            self._advisory_locks(_lock_key(d) for d in digests)
        originals: dict[str, str] = {}
        for chunk in chunks(sorted(set(digests)), 500):
            originals.update(self._s.first_with_digest.run(self._c, {"b_sha256": chunk}).rows)
        rows, bodies, entries = [], [], []
        for r, raw, digest in zip(received, raws, digests, strict=True):
            columns, extra = _split_meta(r.meta or {})
            message_id = new_id()
            original = originals.setdefault(digest, message_id)
            duplicate_of = None if original == message_id else original
            received_at = r.received_at or now
            rows.append({**_NO_META, **columns, "id": message_id, "received_at": received_at, "sha256": digest,
                         "size": len(raw), "channel": r.channel, "partner": r.partner, "filename": r.filename,
                         "duplicate_of": duplicate_of, "meta": extra or None, "status": "received", "error": None,
                         "status_at": now, "call_hint": call_hint(raw)})
            bodies.append({"message_id": message_id, "raw": raw})
            entries.append(JournalEntry(message_id, digest, len(raw), received_at, duplicate_of))
        self._s.insert_message.run_many(self._c, rows)
        self._s.insert_body.run_many(self._c, bodies)
        return entries

    def set_meta(self, message_id: str, meta: Mapping[str, Any], *,
                 current: Mapping[str, Any] | None | EllipsisType = ...) -> None:
        """Fill in envelope fields found after intake; other keys are merged into the `meta` JSON.
        `current`: the message's `meta` as the caller read it in this transaction, or by a lease it
        holds (the pipeline), sparing a read of it."""
        columns, extra = _split_meta(meta)
        held = self._held.messages.get(message_id) if self._held is not None else None
        if extra:
            if held is not None and "meta" in held:
                had = held["meta"]
            else:
                had = (self._s.message_meta.run(self._c, {"b_id": message_id}).scalar_one_or_none()
                       if isinstance(current, EllipsisType) else current)
            columns["meta"] = {**(had or {}), **extra}
        if columns:
            self._update_message(message_id, columns)

    def set_status(self, message_id: str, status: str, error: str | None = None) -> None:
        _check(status, STATUSES, "message status")
        self._update_message(message_id, {"status": status, "error": error, "status_at": utcnow()})

    def _update_message(self, message_id: str, columns: dict[str, Any]) -> None:
        if self._held is not None:
            self._held.messages.setdefault(message_id, {}).update(columns)
        elif self._s.update_message.run(self._c, {**columns, "b_id": message_id}).rowcount == 0:
            raise NotFound(f"no message {message_id}")

    def save_report(self, message_id: str, report: Mapping[str, Any], accepted: bool) -> None:
        """Store the validation report (Report.to_dict()), replacing an earlier one for the message."""
        row = {"message_id": message_id, "report": dict(report), "accepted": bool(accepted), "created_at": utcnow()}
        if self._held is not None:
            self._held.reports[message_id] = row
            return
        self._s.upsert_report.run(self._c, row)

    @contextmanager
    def writes_together(self) -> Iterator[None]:
        """Hold the block's writes of message fields (`set_meta`, `set_status`: merged per message),
        reports (`save_report`) and deliveries (`enqueue_delivery`), and write them when it ends, one
        `executemany` per statement: a pipeline batch then costs PostgreSQL a few round trips, not
        four a message. Not if the block raises (the transaction is rolled back anyway).

        The block must not read what it holds (a message's status, its report, the outbox): its writes
        are not in the database yet. The pipeline's batch reads none of them (its duplicate check goes
        through `interchanges_seen` and keeps its own account of the batch)."""
        held = self._held = HeldWrites()
        try:
            yield
        finally:
            self._held = None
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for message_id, columns in held.messages.items():
            by_columns.setdefault(tuple(sorted(columns)), []).append({**columns, "b_id": message_id})
        for rows in by_columns.values():
            if self._s.update_message.run_many(self._c, rows) < len(rows):
                missing = [r["b_id"] for r in rows if self.message(r["b_id"], raw=False) is None]
                raise NotFound(f"no message {', '.join(missing)}")
        if held.reports:
            self._s.upsert_report.run_many(self._c, list(held.reports.values()))
        if held.deliveries:
            self._insert_deliveries(list(held.deliveries.values()))

    def report(self, message_id: str) -> tuple[dict[str, Any], bool] | None:
        row = self._c.execute(sa.select(reports.c.report, reports.c.accepted)
                              .where(reports.c.message_id == message_id)).one_or_none()
        return None if row is None else (row.report, row.accepted)

    def messages_by_id(self, message_ids: Sequence[str], *, raw: bool = True) -> list[StoredMessage | None]:
        """`message` for many ids at once, in the order given (None where there is none)."""
        found: dict[str, StoredMessage] = {}
        for chunk in chunks(list(message_ids), 500):
            for values in self._s.messages[raw].run(self._c, {"b_ids": chunk}).dicts():
                found[values["id"]] = StoredMessage(**values)
        return [found.get(message_id) for message_id in message_ids]

    def message(self, message_id: str, *, raw: bool = True) -> StoredMessage | None:
        return self.messages_by_id([message_id], raw=raw)[0]

    def messages_in_status(self, status: str, limit: int = 100, *,
                           skip_locked: bool = False) -> list[StoredMessage]:
        """The oldest messages in a status, without their bodies (`message(id)` loads one).

        `skip_locked` (PostgreSQL): lock the rows returned until the transaction ends and skip rows
        other transactions hold, so several hub processes can claim work from the same queue
        (SELECT ... FOR UPDATE SKIP LOCKED). On SQLite the write transaction is already exclusive.
        """
        _check(status, STATUSES, "message status")
        query = (sa.select(*_MESSAGE_COLUMNS, sa.null().label("raw"))
                 .where(messages.c.status == status)
                 .order_by(messages.c.received_at, messages.c.id).limit(limit))
        if skip_locked and self._pg:
            query = query.with_for_update(skip_locked=True)
        return [StoredMessage(**row._asdict()) for row in self._c.execute(query)]

    # --- dossiers -----------------------------------------------------------------------------------

    def find_dossier_ids(self, key_type: str, value: str, scope: str | None = None,
                         kind: str | None = None) -> list[str]:
        """Dossiers holding a key, oldest link first. `value` is the normalised value.

        `scope=None` matches every scope; a string matches exactly that scope ('' is the global scope).
        """
        if scope is None:
            if kind is None:
                return self._s.find_ids.run(self._c, {"b_type": key_type, "b_value": value}).scalars()
            return self._s.find_ids_of_kind.run(self._c, {"b_type": key_type, "b_value": value,
                                                          "b_kind": kind}).scalars()
        k = correlation_keys.c
        query = sa.select(k.dossier_id).where(k.key_type == key_type, k.value == value)
        if scope is not None:
            query = query.where(k.scope == scope)
        if kind is not None:
            query = query.where(k.dossier_kind == kind)
        query = query.group_by(k.dossier_id).order_by(sa.func.min(k.id))
        return list(self._c.execute(query).scalars())

    def load_dossier(self, dossier_id: str, *, lock: bool = False) -> tuple[dict[str, Any], int] | None:
        """(document, version), or None. `lock` takes a row lock on PostgreSQL (FOR UPDATE); optimistic
        concurrency through update_dossier's version check needs no lock."""
        row = self._s.load_dossier[lock].run(self._c, {"b_id": dossier_id}).one_or_none()
        if row is None:
            return None
        document = row[0]
        if has_parts(document):
            document = assemble_parts(document, self.parts(dossier_id))
        return document, row[1]

    def dossier_version(self, dossier_id: str, *, lock: bool = False) -> int | None:
        """The dossier's version (None if there is none), without its document: enough to tell whether
        a copy kept from an earlier transaction is still current. `lock` as in load_dossier."""
        version = self._s.dossier_version[lock].run(self._c, {"b_id": dossier_id}).scalar_one_or_none()
        return None if version is None else int(version)

    def dossier_versions(self, dossier_ids: Iterable[str], *, lock: bool = False) -> dict[str, int | None]:
        """`dossier_version` for many dossiers at once (None for those there are not); `lock` locks the
        rows in id order."""
        out: dict[str, int | None] = dict.fromkeys(dossier_ids)
        for chunk in chunks(sorted(out), 500):
            for dossier_id, version in self._s.dossier_versions[lock].run(self._c, {"b_ids": chunk}).rows:
                out[dossier_id] = int(version)
        return out

    def insert_dossier(self, dossier_id: str, kind: str, status: str, doc: Mapping[str, Any]) -> int:
        """Create a dossier at version 1 (returned); `DossierExists` if the id is taken."""
        _check(kind, DOSSIER_KINDS, "dossier kind")
        now = utcnow()
        version = self._s.insert_dossier.run(self._c, {
            "id": dossier_id, "kind": kind, "status": status, "document": dict(doc), "version": 1,
            "created_at": now, "updated_at": now}).scalar_one_or_none()
        if version is None:
            raise DossierExists(dossier_id)
        return int(version)

    def update_dossier(self, dossier_id: str, status: str, doc: Mapping[str, Any],
                       expected_version: int) -> int:
        """Write the dossier if it is still at `expected_version`; return the new version.

        Raises `ConcurrentUpdate` if another writer got there first (or deleted it).
        """
        return self.update_dossiers([(dossier_id, status, doc, expected_version)])[0]

    def update_dossiers(self, rows: Sequence[tuple[str, str, Mapping[str, Any], int]]) -> list[int]:
        """`update_dossier` for many (id, status, document, expected version) at once (on PostgreSQL one
        round trip); their new versions, in order. `ConcurrentUpdate` for the first that was changed."""
        now = utcnow()
        answers = self._s.update_dossier.run_many_returning(self._c, [
            {"b_id": dossier_id, "b_version": expected, "status": status, "document": dict(doc), "updated_at": now}
            for dossier_id, status, doc, expected in rows])
        versions = []
        for (dossier_id, _, _, expected), answer in zip(rows, answers, strict=True):
            version = answer.scalar_one_or_none()
            if version is None:
                raise ConcurrentUpdate(dossier_id, expected, self.dossier_version(dossier_id))
            versions.append(int(version))
        return versions

    def delete_dossier(self, dossier_id: str) -> bool:
        """Delete a dossier with its keys, events and discrepancies (e.g. a provisional dossier merged
        into another). False if there was none."""
        for table in (correlation_keys, events, discrepancies, dossier_fragments, dossier_parts):
            self._c.execute(table.delete().where(table.c.dossier_id == dossier_id))
        return self._c.execute(dossiers.delete().where(dossiers.c.id == dossier_id)).rowcount > 0

    def fragments(self, dossier_id: str) -> dict[str, dict[str, Any]]:
        """What each message said about a dossier: source id -> fragment, in the order attached."""
        return dict(self._s.fragments.run(self._c, {"b_id": dossier_id}).rows)

    def parts(self, dossier_id: str) -> dict[str, Any]:
        """The stored items of a dossier's part lists, by part name (see split_parts)."""
        return dict(self._s.parts.run(self._c, {"b_id": dossier_id}).rows)

    def put_parts(self, rows: Iterable[tuple[str, str, Any]]) -> None:
        """Store (dossier id, part name, item) rows, replacing an item already stored under that name."""
        params = [{"dossier_id": d, "part": part, "item": item} for d, part, item in rows]
        for chunk in chunks(params, 500):
            self._s.put_parts.run_many(self._c, chunk)

    def delete_parts(self, dossier_id: str, names: Iterable[str]) -> None:
        for chunk in chunks(list(names), 500):
            self._s.delete_parts.run(self._c, {"b_id": dossier_id, "b_parts": chunk})

    def put_fragments(self, rows: Iterable[tuple[str, str, Mapping[str, Any]]]) -> None:
        """Store (dossier id, source id, fragment) rows; a fragment already there for that dossier and
        source is replaced, keeping its place in the order."""
        params = [{"dossier_id": d, "source_id": source, "fragment": dict(fragment)} for d, source, fragment in rows]
        for chunk in chunks(params, 500):
            self._s.put_fragments.run_many(self._c, chunk)

    def delete_fragments(self, dossier_id: str, source_ids: Iterable[str]) -> None:
        f = dossier_fragments.c
        for chunk in chunks(list(source_ids), 500):
            self._c.execute(dossier_fragments.delete().where(f.dossier_id == dossier_id, f.source_id.in_(chunk)))

    def add_keys(self, keys: Iterable[Mapping[str, Any]]) -> None:
        """Link correlation keys to dossiers; keys already linked are skipped.

        Each key: key_type, value (normalised), dossier_id; optionally raw, scope (default '' = global),
        dossier_kind (default: the dossier's kind), message_id (the message it was first seen in).
        """
        now = utcnow()
        rows = [{"key_type": key["key_type"], "value": key["value"], "raw": key.get("raw"),
                 "scope": key.get("scope") or "", "dossier_id": key["dossier_id"],
                 "dossier_kind": key.get("dossier_kind"), "message_id": key.get("message_id"),
                 "created_at": now} for key in keys]
        if not rows:
            return
        missing = {row["dossier_id"] for row in rows if row["dossier_kind"] is None}
        if missing:
            found = self._c.execute(sa.select(dossiers.c.id, dossiers.c.kind)
                                    .where(dossiers.c.id.in_(missing)))
            kinds = {row.id: row.kind for row in found}
            if missing - kinds.keys():
                raise NotFound(f"no dossier {', '.join(sorted(missing - kinds.keys()))}")
            for row in rows:
                row["dossier_kind"] = row["dossier_kind"] or kinds[row["dossier_id"]]
        self._s.insert_keys.run_many(self._c, rows)

    def add_keys_of(self, keys_by_dossier: Iterable[tuple[str, str, Sequence[tuple[str, str, str]]]]) -> None:
        """`add_keys` of (dossier id, its kind, its (key type, value, scope) keys) with no raw value and no
        message (scope '' when global): the same rows, made a column at a time (a vessel call links
        24,000 container keys, and two dicts per key were a tenth of a large bayplan's store writes)."""
        key_types: list[str] = []
        values: list[str] = []
        scopes: list[str] = []
        dossier_ids: list[str] = []
        kinds: list[str] = []
        for dossier_id, kind, keys in keys_by_dossier:
            key_types += map(_FIRST, keys)
            values += map(_SECOND, keys)
            scopes += map(_THIRD, keys)
            dossier_ids += [dossier_id] * len(keys)
            kinds += [kind] * len(keys)
        n = len(key_types)
        if not n:
            return
        self._s.insert_keys.run_columns(self._c, {
            "key_type": key_types, "value": values, "raw": [None] * n, "scope": scopes, "dossier_id": dossier_ids,
            "dossier_kind": kinds, "message_id": [None] * n, "created_at": [utcnow()] * n})

    def delete_keys_for_dossier(self, dossier_id: str) -> int:
        """Unlink every key of a dossier; returns how many."""
        k = correlation_keys
        return self._c.execute(k.delete().where(k.c.dossier_id == dossier_id)).rowcount

    def add_events(self, items: Iterable[Mapping[str, Any]]) -> list[str]:
        """Append timeline events; returns their ids. Events whose id already exists are skipped.

        Each event: dossier_id, type; optionally id (pass a deterministic one, e.g. built from the
        message id, to make re-running a stage a no-op), event_time (aware datetime), message_id, detail.
        """
        now = utcnow()
        rows = [{"id": item.get("id") or new_id(), "dossier_id": item["dossier_id"], "type": item["type"],
                 "event_time": item.get("event_time"), "recorded_at": item.get("recorded_at") or now,
                 "message_id": item.get("message_id"), "detail": item.get("detail")} for item in items]
        if rows:
            self._s.insert_events.run_many(self._c, rows)
        return [row["id"] for row in rows]

    def upsert_discrepancy(self, dossier_id: str, type: str, key: str, *, severity: str,
                           detail: Mapping[str, Any] | None = None, message_id: str | None = None,
                           status: str | None = None) -> str:
        """Record a discrepancy once per (dossier, type, key); returns its id.

        Seen again, it keeps its id and status (an operator's "accepted" stands) and takes the new
        severity, detail and message; pass `status` to change the status too.
        """
        if status is not None:
            _check(status, DISCREPANCY_STATUSES, "discrepancy status")
        now = utcnow()
        return str(self._s.upsert_discrepancy[status is not None].run(self._c, {
            "id": new_id(), "dossier_id": dossier_id, "type": type, "key": key, "severity": severity,
            "status": status or "open", "detail": None if detail is None else dict(detail),
            "message_id": message_id, "created_at": now, "updated_at": now}).scalar_one())

    def set_discrepancy_status(self, discrepancy_id: str, status: str) -> None:
        _check(status, DISCREPANCY_STATUSES, "discrepancy status")
        result = self._c.execute(discrepancies.update().where(discrepancies.c.id == discrepancy_id)
                                 .values(status=status, updated_at=utcnow()))
        if result.rowcount == 0:
            raise NotFound(f"no discrepancy {discrepancy_id}")

    # --- batches: the same writes as above, many rows per statement ---------------------------------
    # Correlating a 24,000-container bayplan or a 5,000-B/L manifest writes tens of thousands of keys,
    # events and discrepancies; one statement a row costs more than all the rest of the work.

    def insert_dossiers(self, rows: Iterable[tuple[str, str, str, Mapping[str, Any]]]) -> None:
        """`insert_dossier` for many (id, kind, status, document) at once, each at version 1;
        `DossierExists` (naming the first id taken) if any id is taken, and then nothing is inserted
        by this call that the caller should rely on (roll the transaction back)."""
        now = utcnow()
        params = []
        for dossier_id, kind, status, doc in rows:
            _check(kind, DOSSIER_KINDS, "dossier kind")
            params.append({"id": dossier_id, "kind": kind, "status": status, "document": dict(doc),
                           "version": 1, "created_at": now, "updated_at": now})
        for chunk in chunks(params, 500):
            inserted = self._s.insert_dossiers.run_many(self._c, chunk)
            if 0 <= inserted < len(chunk):  # ON CONFLICT DO NOTHING skipped some: which were there before?
                ids = [p["id"] for p in chunk]
                found = self._c.execute(sa.select(dossiers.c.id, dossiers.c.created_at)
                                        .where(dossiers.c.id.in_(ids)).order_by(dossiers.c.id)).all()
                taken = [dossier_id for dossier_id, created in found if created != now] or [found[0][0]]
                raise DossierExists(str(taken[0]))

    def find_dossier_ids_many(self, key_type: str, values: Iterable[str],
                              kind: str | None = None) -> dict[str, list[str]]:
        """`find_dossier_ids` (any scope) for many values of one key type: value -> dossier ids, oldest
        link first; values no dossier holds are left out."""
        out: dict[str, list[str]] = {}
        query = self._s.find_ids_many if kind is None else self._s.find_ids_many_of_kind
        for chunk in chunks(list(dict.fromkeys(values)), 500):
            for value, dossier_id in query.run(self._c, {"b_type": key_type, "b_values": chunk,
                                                         "b_kind": kind}).rows:
                out.setdefault(value, []).append(dossier_id)
        return out

    def lock_keys(self, keys: Iterable[tuple[str, str, str]]) -> bool:
        """Hold a lock per (dossier kind, key type, value) until this transaction ends, so that another
        process about to open a dossier for one of these keys waits for this one, then finds what it
        opened (PostgreSQL: transaction-level advisory locks, taken in one order to avoid deadlocks).
        True if locks were taken; on SQLite a writing transaction holds the database's one write lock
        from its start already, and nothing is done."""
        if not self._pg:
            return False
        self._advisory_locks(int.from_bytes(hashlib.blake2b("|".join(k).encode(), digest_size=8).digest(), "big",
                                            signed=True) for k in keys)
        return True

    def _advisory_locks(self, hashes: Iterable[int]) -> None:
        """PostgreSQL transaction-level advisory locks on `hashes`, taken in one statement in ascending
        order (so that two transactions taking overlapping sets do not deadlock on them)."""
        ordered = sorted(set(hashes))
        if ordered:
            self._c.exec_driver_sql("SELECT pg_advisory_xact_lock(h) FROM unnest(%(hashes)s::bigint[]) AS h "
                                    "ORDER BY h", {"hashes": ordered})

    def find_dossier_ids_among(self, key_type: str, value: str, among: Iterable[str], kind: str) -> list[str]:
        """`find_dossier_ids` (any scope, one kind) restricted to the dossiers `among`, oldest link first."""
        linked: list[tuple[int, str]] = []
        for chunk in chunks(list(dict.fromkeys(among)), 500):
            linked += ((first, dossier_id) for dossier_id, first in self._s.find_ids_among.run(
                self._c, {"b_type": key_type, "b_value": value, "b_kind": kind, "b_ids": chunk}).rows)
        return [dossier_id for _, dossier_id in sorted(linked)]

    def keys_of(self, dossier_ids: Iterable[str]) -> dict[str, dict[tuple[str, str, str], int]]:
        """The correlation keys of some dossiers: dossier id -> {(key_type, value, scope): row id}."""
        out: dict[str, dict[tuple[str, str, str], int]] = {}
        for chunk in chunks(list(dict.fromkeys(dossier_ids)), 500):
            for key_id, dossier_id, key_type, value, scope in self._s.keys_of.run(self._c, {"b_ids": chunk}).rows:
                out.setdefault(dossier_id, {})[(key_type, value, scope)] = key_id
        return out

    def delete_keys(self, key_ids: Iterable[int]) -> None:
        """Unlink correlation keys by their row ids (as `keys_of` gives them)."""
        for chunk in chunks(list(key_ids), 500):
            self._s.delete_keys.run(self._c, {"b_ids": chunk})

    def upsert_discrepancies(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """`upsert_discrepancy` with a status for many rows at once. Each row: dossier_id, type, key,
        severity, status; optionally detail, message_id."""
        now = utcnow()
        params = []
        for d in rows:
            _check(d["status"], DISCREPANCY_STATUSES, "discrepancy status")
            detail = d.get("detail")
            params.append({"id": new_id(), "dossier_id": d["dossier_id"], "type": d["type"], "key": d["key"],
                           "severity": d["severity"], "status": d["status"],
                           "detail": None if detail is None else dict(detail),
                           "message_id": d.get("message_id"), "created_at": now, "updated_at": now})
        if params:
            self._s.upsert_discrepancies.run_many(self._c, params)

    def open_discrepancies(self, dossier_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The open discrepancies of some dossiers: id, dossier_id, type, key."""
        out: list[dict[str, Any]] = []
        for chunk in chunks(list(dict.fromkeys(dossier_ids)), 500):
            out.extend(self._s.open_discrepancies.run(self._c, {"b_ids": chunk}).dicts())
        return out

    def set_discrepancies_status(self, discrepancy_ids: Iterable[str], status: str) -> None:
        """`set_discrepancy_status` for many ids (ids that do not exist are ignored)."""
        _check(status, DISCREPANCY_STATUSES, "discrepancy status")
        d = discrepancies
        now = utcnow()
        for chunk in chunks(list(discrepancy_ids), 500):
            self._c.execute(d.update().where(d.c.id.in_(chunk)).values(status=status, updated_at=now))

    # --- queries ------------------------------------------------------------------------------------

    def dossier(self, dossier_id: str) -> dict[str, Any] | None:
        """The document with its id, kind and status, or None."""
        row = self._c.execute(sa.select(*_DOSSIER_COLUMNS).where(dossiers.c.id == dossier_id)).one_or_none()
        return None if row is None else self._whole(row._mapping)

    def _whole(self, row: RowMapping) -> dict[str, Any]:
        return _dossier_dict(row, self.parts(row["id"]) if has_parts(row["document"]) else {})

    def dossiers_by(self, *, bl: str | None = None, container: str | None = None,
                    vessel_imo: str | None = None, vessel_name: str | None = None, voyage: str | None = None,
                    port_call_ref: str | None = None, customs_ref: str | None = None,
                    kind: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Dossiers holding all the keys given (any scope), oldest first, as documents with id, kind and
        status. `vessel_imo` searches key_type 'imo', the others their own name (QUERY_KEYS). Values go
        through the store's key normaliser if it has one, else must be normalised."""
        given = {"bl": bl, "container": container, "vessel_imo": vessel_imo, "vessel_name": vessel_name,
                 "voyage": voyage, "port_call_ref": port_call_ref, "customs_ref": customs_ref}
        criteria = [(QUERY_KEYS[name], value) for name, value in given.items() if value is not None]
        if not criteria:
            raise ValueError(f"dossiers_by needs at least one of {', '.join(QUERY_KEYS)}")
        k = correlation_keys.c
        query = sa.select(*_DOSSIER_COLUMNS)
        for key_type, value in criteria:
            if self._normalize is not None:
                value = self._normalize(key_type, value)
            query = query.where(dossiers.c.id.in_(
                sa.select(k.dossier_id).where(k.key_type == key_type, k.value == value)))
        if kind is not None:
            query = query.where(dossiers.c.kind == kind)
        query = query.order_by(dossiers.c.created_at, dossiers.c.id).limit(limit)
        return [self._whole(row._mapping) for row in self._c.execute(query)]

    def events_for(self, dossier_id: str) -> list[dict[str, Any]]:
        """The dossier's timeline: by event_time, then recorded_at.

        An event without an event_time (the message gave none, e.g. "manifest received") is placed at
        its recorded_at, which is when it happened as far as anyone knows, rather than all at one end.
        """
        e = events.c
        query = (sa.select(e.id, e.dossier_id, e.type, e.event_time, e.recorded_at, e.message_id, e.detail)
                 .where(e.dossier_id == dossier_id)
                 .order_by(sa.func.coalesce(e.event_time, e.recorded_at), e.recorded_at, e.id))
        return [dict(row._mapping) for row in self._c.execute(query)]

    def discrepancies_for(self, dossier_id: str, status: str | None = None) -> list[dict[str, Any]]:
        d = discrepancies.c
        query = sa.select(discrepancies).where(d.dossier_id == dossier_id)
        if status is not None:
            query = query.where(d.status == status)
        return [dict(row._mapping) for row in self._c.execute(query.order_by(d.created_at, d.id))]

    def counts(self) -> dict[str, int]:
        """Rows per table, messages per status (`messages_<status>`) and `messages_duplicate`."""
        tables = (messages, message_bodies, reports, dossiers, dossier_fragments, dossier_parts, correlation_keys,
                  events, discrepancies)
        out = {t.name: int(self._c.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
               for t in tables}
        out.update({f"messages_{status}": 0 for status in STATUSES})
        for status, n in self._c.execute(sa.select(messages.c.status, sa.func.count())
                                         .group_by(messages.c.status)):
            out[f"messages_{status}"] = int(n)
        # Duplicates by content (duplicate_of) and by interchange reference (status 'duplicate').
        out["messages_duplicate"] = int(self._c.execute(
            sa.select(sa.func.count()).where(sa.or_(messages.c.duplicate_of.is_not(None),
                                                    messages.c.status == "duplicate"))).scalar_one())
        return out


class Store:
    """The durable store. Thread-safe: each call or transaction takes its own pooled connection."""

    def __init__(self, engine: Engine, *, key_normalizer: KeyNormalizer | None = None) -> None:
        self.engine = engine
        self._key_normalizer = key_normalizer
        self._checkpointer = _engine.checkpointer_for(engine)  # SQLite files: WAL checkpoints off the commits

    @property
    def url(self) -> URL:
        return self.engine.url

    @property
    def backend(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, *, write: bool = True, durable: bool = False) -> Iterator[Transaction]:
        """A unit of work: `with store.transaction() as tx: ...` commits at the end, rolls back on error.

        `write=False` for read-only work (on SQLite it then does not take the write lock). `durable`:
        on SQLite, sync this commit to disk (synchronous=FULL) before returning; see engine.py.
        """
        with _engine.transaction(self.engine, write=write, durable=durable) as conn:
            yield Transaction(conn, self._key_normalizer)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- one-shot calls, each in its own transaction ------------------------------------------------

    def journal(self, raw: bytes, *, channel: str, partner: str | None = None, filename: str | None = None,
                received_at: datetime | None = None, meta: Mapping[str, Any] | None = None) -> JournalEntry:
        """Persist a received message; when this returns, the transport may be acknowledged."""
        raw = bytes(raw)
        digest = hashlib.sha256(raw).hexdigest()  # outside the transaction: no lock held while hashing
        with self.transaction(durable=True) as tx:
            return tx.journal(raw, channel=channel, partner=partner, filename=filename,
                              received_at=received_at, meta=meta, sha256=digest)

    def set_meta(self, message_id: str, meta: Mapping[str, Any]) -> None:
        with self.transaction() as tx:
            tx.set_meta(message_id, meta)

    def set_status(self, message_id: str, status: str, error: str | None = None) -> None:
        with self.transaction() as tx:
            tx.set_status(message_id, status, error)

    def save_report(self, message_id: str, report: Mapping[str, Any], accepted: bool) -> None:
        with self.transaction() as tx:
            tx.save_report(message_id, report, accepted)

    def report(self, message_id: str) -> tuple[dict[str, Any], bool] | None:
        with self.transaction(write=False) as tx:
            return tx.report(message_id)

    def message(self, message_id: str, *, raw: bool = True) -> StoredMessage | None:
        with self.transaction(write=False) as tx:
            return tx.message(message_id, raw=raw)

    def messages_in_status(self, status: str, limit: int = 100) -> list[StoredMessage]:
        with self.transaction(write=False) as tx:
            return tx.messages_in_status(status, limit)

    def dossier(self, dossier_id: str) -> dict[str, Any] | None:
        with self.transaction(write=False) as tx:
            return tx.dossier(dossier_id)

    def dossiers_by(self, *, bl: str | None = None, container: str | None = None,
                    vessel_imo: str | None = None, vessel_name: str | None = None, voyage: str | None = None,
                    port_call_ref: str | None = None, customs_ref: str | None = None,
                    kind: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        with self.transaction(write=False) as tx:
            return tx.dossiers_by(bl=bl, container=container, vessel_imo=vessel_imo, vessel_name=vessel_name,
                                  voyage=voyage, port_call_ref=port_call_ref, customs_ref=customs_ref,
                                  kind=kind, limit=limit)

    def events_for(self, dossier_id: str) -> list[dict[str, Any]]:
        with self.transaction(write=False) as tx:
            return tx.events_for(dossier_id)

    def discrepancies_for(self, dossier_id: str, status: str | None = None) -> list[dict[str, Any]]:
        with self.transaction(write=False) as tx:
            return tx.discrepancies_for(dossier_id, status)

    def counts(self) -> dict[str, int]:
        with self.transaction(write=False) as tx:
            return tx.counts()


def open_store(url: str | None = None, *, key_normalizer: KeyNormalizer | None = None) -> Store:
    """Open the store at `url`, else $HUB_DATABASE_URL, else sqlite:///var/hub.db, migrating it to the
    latest schema first if needed (an empty database gets every table)."""
    engine = _engine.create_engine(url)
    try:
        _engine.migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, key_normalizer=key_normalizer)
